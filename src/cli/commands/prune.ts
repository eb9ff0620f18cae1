import type { Command } from 'commander';
import { terminalText } from '../escape.js';
import { confirm, PRUNE_ALL_WARNING, PRUNE_WARNING } from '../confirm.js';
import { cliFilters, checkFilterParts } from '../filters.js';
import {
  createOption,
  durationFlag,
  filterOption,
  reportFormat,
  reportFormatOption,
  rootOption,
  sizeFlag,
  verboseOption,
  snapshotterFrom,
  withSnapshotterOptions,
  type SnapshotterFlags,
} from '../options.js';
import type { PruneInfo } from '../../cache/policy/index.js';
import type { PrunedRecord } from '../../cache/prune.js';
import { formatSize, isDiskPercent, resolveSize } from '../../units/index.js';
import { ProgressLine } from '../progress.js';
import { requireCacheRoot } from '../root.js';
import { renderUsageBlock, TABLE_HEADER, tableRow } from '../usage-table.js';

interface PruneFlags extends SnapshotterFlags {
  root: string;
  create?: boolean;
  all?: boolean;
  force?: boolean;
  verbose?: boolean;
  filter?: string[];
  keepDuration?: string;
  reservedSpace?: string;
  keepStorage?: string;
  maxUsedSpace?: string;
  minFreeSpace?: string;
  dryRun?: boolean;
  format?: string;
}

const SIZE_FLAGS = [
  ['reservedSpace', '--reserved-space'],
  ['maxUsedSpace', '--max-used-space'],
  ['minFreeSpace', '--min-free-space'],
] as const;

/** The policy the flags describe; every bad value is refused here, before the root is touched. */
async function policyFrom(flags: PruneFlags): Promise<PruneInfo> {
  const filters = cliFilters(flags.filter ?? []);
  await checkFilterParts(flags.filter ?? []);
  if (filters.until !== undefined && flags.keepDuration !== undefined)
    throw new Error('--keep-duration and --filter until=… set the same limit: give one of them');
  if (flags.keepStorage !== undefined && flags.reservedSpace !== undefined)
    throw new Error('--keep-storage is the older name of --reserved-space: give one of them');
  const keepDuration =
    flags.keepDuration === undefined ? filters.until : durationFlag('--keep-duration', flags.keepDuration);
  const policy: PruneInfo = {
    ...(flags.all ? { all: true } : {}),
    ...(filters.filter.length ? { filter: filters.filter } : {}),
    ...(keepDuration ? { keepDuration } : {}),
    ...(flags.dryRun ? { dryRun: true } : {}),
  };
  const texts = { ...flags, reservedSpace: flags.reservedSpace ?? flags.keepStorage };
  for (const [field, flag] of SIZE_FLAGS) {
    const text = texts[field];
    if (text === undefined) continue;
    const size = sizeFlag(field === 'reservedSpace' && flags.keepStorage ? '--keep-storage' : flag, text);
    if (!isDiskPercent(size)) {
      policy[field] = size;
      continue;
    }
    const { diskStats } = await import('../../cache/policy/index.js');
    policy[field] = resolveSize(size, (await diskStats(flags.root)).total);
  }
  return policy;
}

const DESCRIPTION = [
  "remove unreferenced cache records by BuildKit's policies, like docker buildx prune.",
  'Asks for confirmation on a terminal unless --force or --dry-run; without a terminal it refuses unless --force.',
  "Sizes parse as docker parses them (RAMInBytes: 10GB = 10g = 10GiB = 10737418240 bytes, or N% of the root's",
  'disk) and print as docker prints them (decimal: 1.5GB). Durations need a unit (24h, 90m, 1h30m).',
  'Differences from buildx: a piped answer is not read (use --force); the prompt goes to stderr; --filter also',
  'takes containerd syntax; --keep-duration, --dry-run, --create, --format and -v are cachekit additions.',
].join(' ');

export function registerPrune(program: Command): void {
  withSnapshotterOptions(program.command('prune').description(DESCRIPTION).addOption(rootOption()))
    .addOption(createOption())
    .option('-a, --all', 'also internal, frontend and shared records (buildx: -a, --all)')
    .option('-f, --force', 'do not prompt for confirmation (buildx: -f, --force)')
    .addOption(filterOption())
    .option('--keep-duration <duration>', 'keep records used within this long, e.g. 24h (buildx: --filter until=24h)')
    .option('--reserved-space <size>', 'never prune below this size, e.g. 10GB (= 10 GiB) or 10%')
    .option('--keep-storage <size>', "buildx's older name of --reserved-space (deprecated there too)")
    .option('--max-used-space <size>', 'prune until the cache is below this size')
    .option('--min-free-space <size>', 'prune until the disk has this much free')
    .option('--dry-run', 'show what would be removed, remove nothing (no confirmation needed)')
    .addOption(verboseOption())
    .addOption(reportFormatOption())
    .action(async (flags: PruneFlags) => {
      const format = reportFormat(flags);
      const policy = await policyFrom(flags);
      await requireCacheRoot(flags.root, { create: flags.create, canCreate: true });
      if (flags.force !== true && flags.dryRun !== true) {
        const warning = flags.all ? PRUNE_ALL_WARNING : PRUNE_WARNING;
        const yes = await confirm(warning, { input: process.stdin, output: process.stderr });
        if (!yes) return;
      }
      // Loaded in the action: `cachekit --help` must not pay for the engine.
      const { openCacheManager } = await import('../../cache/manager.js');
      const snapshotter = snapshotterFrom(flags);
      const cm = await openCacheManager({ root: flags.root, ...(snapshotter ? { snapshotter } : {}) });
      const progress = new ProgressLine('pruning');
      const print = printer(format, flags.dryRun === true);
      let freed = 0;
      let count = 0;
      try {
        await new Promise<void>((resolve, reject) =>
          cm.prune(policy).subscribe({
            next: (r) => {
              count++;
              freed += r.size;
              // Clear the progress line first, so a row never lands after it on the terminal.
              progress.done();
              print(r);
              progress.update(`${count} records, ${formatSize(freed, { docker: true })}`);
            },
            error: reject,
            complete: resolve,
          }),
        );
      } finally {
        progress.done();
        await cm.close();
      }
      if (format !== 'json')
        process.stdout.write(
          `${flags.dryRun ? 'Total (dry run, nothing removed)' : 'Total'}:\t${formatSize(freed, { docker: true })}\n`,
        );
    });
}

/**
 * Each removed record as it goes: a JSON line (`PrunedRecord`), a buildx table row with a REASON column, or a
 * buildx pretty block with its reason.
 */
function printer(format: 'table' | 'pretty' | 'json', dryRun: boolean): (r: PrunedRecord) => void {
  const out = (text: string) => process.stdout.write(`${text}\n`);
  if (format === 'json') return (r) => out(JSON.stringify(r));
  if (format === 'pretty')
    return (r) =>
      out(`${renderUsageBlock(r)}\n${dryRun ? 'Would remove' : 'Removed'}:      ${terminalText(r.reason)}\n`);
  // Rows stream out, so widths are fixed (buildx pads the id to 40 as well); long cells just push the rest right.
  const widths = [40, 11, 10, 22];
  const row = (cells: readonly string[]) =>
    cells
      .map((cell, i) => cell.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  let first = true;
  return (r) => {
    if (first) out(row([...TABLE_HEADER, 'REASON']));
    first = false;
    out(row([...tableRow(r, Date.now()), terminalText(r.reason)]));
  };
}
