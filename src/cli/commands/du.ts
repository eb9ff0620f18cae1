import type { Command } from 'commander';
import { openCacheManager } from '../../cache/manager.js';
import { renderUsageTable, renderUsageVerbose } from '../usage-table.js';

export function registerDu(program: Command): void {
  program
    .command('du')
    .description('show disk usage of the cache, like docker buildx du')
    .option('--root <dir>', 'cache root', './.cachekit')
    .option('--verbose', 'one block per record with every field')
    .option('--format <format>', 'table or json', 'table')
    .action(async (opts: { root: string; verbose?: boolean; format: string }) => {
      if (opts.format !== 'table' && opts.format !== 'json') throw new Error(`--format ${opts.format}: expected table or json`);
      // Read-only: du must work while another process owns the root, and must never write to it.
      const cm = await openCacheManager({ root: opts.root, readOnly: true });
      try {
        const rows = await cm.diskUsage();
        const out = opts.format === 'json' ? JSON.stringify(rows, null, 2) : opts.verbose ? renderUsageVerbose(rows) : renderUsageTable(rows);
        process.stdout.write(`${out}\n`);
      } finally {
        await cm.close();
      }
    });
}
