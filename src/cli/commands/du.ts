import type { Command } from 'commander';
import { cliFilters, checkFilterParts } from '../filters.js';
import { filterOption, reportFormat, reportFormatOption, rootOption, verboseOption } from '../options.js';
import { ProgressLine } from '../progress.js';
import { requireCacheRoot } from '../root.js';
import { formatSize } from '../../units/index.js';
import { renderUsageTable, renderUsageVerbose } from '../usage-table.js';

interface DuFlags {
  root: string;
  filter?: string[];
  verbose?: boolean;
  format?: string;
}

export function registerDu(program: Command): void {
  program
    .command('du')
    .description(
      [
        'show disk usage of the cache, like docker buildx du; safe on a root another process owns.',
        'Sizes print as docker prints them (decimal: 1.5GB = 1.5e9 bytes).',
        'Differences from buildx: --filter also takes containerd syntax and until=DURATION is applied (buildx du',
        'ignores it); --format json is one JSON array, not one object per line; no Go templates; -v is short for',
        '--verbose.',
      ].join(' '),
    )
    .addOption(rootOption())
    .addOption(filterOption())
    .addOption(verboseOption())
    .addOption(reportFormatOption())
    .action(async (flags: DuFlags) => {
      const format = reportFormat(flags);
      const filters = cliFilters(flags.filter ?? []);
      await checkFilterParts(flags.filter ?? []);
      await requireCacheRoot(flags.root, { canCreate: false });
      // The owner's control socket first (it knows what is held), else the stored metadata, read-only: du
      // must work while another process owns the root, and must never write to it.
      // Loaded in the action: `cachekit --help` must not pay for the engine.
      const { openReader, sourceLine } = await import('../live.js');
      const reader = await openReader(flags.root);
      const progress = new ProgressLine('sizing');
      try {
        const rows = await reader.diskUsage({
          filter: filters.filter,
          ...(filters.until === undefined ? {} : { ageLimit: filters.until }),
          onProgress: (p) =>
            progress.update(
              `${p.done}/${p.total} records, ${formatSize(p.bytes, { docker: true })}`,
              p.total ? p.done / p.total : undefined,
            ),
        });
        progress.done();
        // Said on stderr, so the table stays buildx's; JSON rows carry it too.
        process.stderr.write(`${sourceLine(reader.source, reader.fallbackReason)}\n`);
        // buildx leaves the totals out when filters narrow the rows.
        const summary = (flags.filter ?? []).length === 0;
        const out =
          format === 'json'
            ? JSON.stringify(
                rows.map((row) => ({ ...row, source: reader.source })),
                null,
                2,
              )
            : format === 'pretty'
              ? renderUsageVerbose(rows, { summary })
              : renderUsageTable(rows, { summary });
        process.stdout.write(`${out}\n`);
      } finally {
        progress.done();
        await reader.close();
      }
    });
}
