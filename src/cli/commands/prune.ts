import type { Command } from 'commander';
import { formatOption, rootOption } from '../options.js';
import type { PruneInfo } from '../../cache/policy/index.js';
import { formatSize, isDiskPercent, parseDuration, parseSize, resolveSize } from '../../units/index.js';
import { ProgressLine } from '../progress.js';

interface PruneFlags {
  root: string;
  all?: boolean;
  filter: string[];
  keepDuration?: string;
  reservedSpace?: string;
  maxUsedSpace?: string;
  minFreeSpace?: string;
  dryRun?: boolean;
  format: string;
}

const collect = (value: string, previous: string[]) => [...previous, value];

/** Sizes may be absolute (10GB, 512MiB) or a share of the disk holding the root (20%). */
async function policyFrom(flags: PruneFlags): Promise<PruneInfo> {
  const sizes = {
    reservedSpace: flags.reservedSpace,
    maxUsedSpace: flags.maxUsedSpace,
    minFreeSpace: flags.minFreeSpace,
  };
  const policy: PruneInfo = {
    ...(flags.all ? { all: true } : {}),
    ...(flags.filter.length ? { filter: flags.filter } : {}),
    ...(flags.keepDuration ? { keepDuration: parseDuration(flags.keepDuration) } : {}),
    ...(flags.dryRun ? { dryRun: true } : {}),
  };
  for (const [field, text] of Object.entries(sizes)) {
    if (text === undefined) continue;
    const size = parseSize(text);
    if (!isDiskPercent(size)) {
      policy[field as keyof typeof sizes] = size;
      continue;
    }
    const { diskStats } = await import('../../cache/policy/index.js');
    policy[field as keyof typeof sizes] = resolveSize(size, (await diskStats(flags.root)).total);
  }
  return policy;
}

export function registerPrune(program: Command): void {
  program
    .command('prune')
    .description("remove unreferenced cache records by BuildKit's policies")
    .addOption(rootOption())
    .option('--all', 'also internal, frontend and shared records')
    .option('--filter <filter>', 'containerd-style filter (repeatable: any may match)', collect, [])
    .option('--keep-duration <duration>', 'keep records used within this long (e.g. 24h)')
    .option('--reserved-space <size>', 'never prune below this size (e.g. 10GB, 10%)')
    .option('--max-used-space <size>', 'prune until the cache is below this size')
    .option('--min-free-space <size>', 'prune until the disk has this much free')
    .option('--dry-run', 'show what would be removed, remove nothing')
    .addOption(formatOption('table'))
    .action(async (flags: PruneFlags) => {
      const policy = await policyFrom(flags);
      // Loaded in the action: `cachekit --help` must not pay for the engine.
      const { openCacheManager } = await import('../../cache/manager.js');
      const cm = await openCacheManager({ root: flags.root });
      const progress = new ProgressLine('pruning');
      let freed = 0;
      let count = 0;
      try {
        await new Promise<void>((resolve, reject) =>
          cm.prune(policy).subscribe({
            next: (r) => {
              count++;
              freed += r.size;
              progress.update(`${count} records, ${formatSize(freed)}`);
              const line =
                flags.format === 'json'
                  ? JSON.stringify(r)
                  : `${flags.dryRun ? 'would remove' : 'removed'} ${r.id}  ${formatSize(r.size)}  ${r.reason}`;
              process.stdout.write(`${line}\n`);
            },
            error: reject,
            complete: resolve,
          }),
        );
      } finally {
        progress.done();
        await cm.close();
      }
      if (flags.format !== 'json')
        process.stdout.write(
          `Total: ${flags.dryRun ? 'would free' : 'freed'} ${formatSize(freed)} in ${count} records\n`,
        );
    });
}
