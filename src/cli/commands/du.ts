import type { Command } from 'commander';
import { formatOption, rootOption } from '../options.js';
import { ProgressLine } from '../progress.js';
import { formatSize } from '../../units/index.js';
import { renderUsageTable, renderUsageVerbose } from '../usage-table.js';

const collect = (value: string, previous: string[]) => [...previous, value];

export function registerDu(program: Command): void {
  program
    .command('du')
    .description('show disk usage of the cache, like docker buildx du; safe on a root another process owns')
    .addOption(rootOption())
    .option('--filter <filter>', 'containerd-style filter (repeatable: any may match)', collect, [])
    .option('--verbose', 'one block per record with every field')
    .addOption(formatOption('table'))
    .action(async (opts: { root: string; filter: string[]; verbose?: boolean; format: string }) => {
      // Read-only: du must work while another process owns the root, and must never write to it.
      // Loaded in the action: `cachekit --help` must not pay for the engine.
      const [{ lastValueFrom, toArray }, { openCacheManager }] = await Promise.all([
        import('rxjs'),
        import('../../cache/manager.js'),
      ]);
      const cm = await openCacheManager({ root: opts.root, readOnly: true });
      const progress = new ProgressLine('sizing');
      try {
        const rows = await lastValueFrom(
          cm
            .diskUsage$({
              filter: opts.filter,
              onProgress: (p) =>
                progress.update(
                  `${p.done}/${p.total} records, ${formatSize(p.bytes)}`,
                  p.total ? p.done / p.total : undefined,
                ),
            })
            .pipe(toArray()),
        );
        progress.done();
        const out =
          opts.format === 'json'
            ? JSON.stringify(rows, null, 2)
            : opts.verbose
              ? renderUsageVerbose(rows)
              : renderUsageTable(rows);
        process.stdout.write(`${out}\n`);
      } finally {
        progress.done();
        await cm.close();
      }
    });
}
