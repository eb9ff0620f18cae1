import { type Command, Option } from 'commander';
import { formatOption, rootOption } from '../options.js';
import { terminalText } from '../escape.js';
import { isCacheError } from '../../cache/errors.js';
import { requireCacheRoot } from '../root.js';

interface RecoverFlags {
  root: string;
  mode: 'rebuild-metadata' | 'lost+found';
  snapshotter?: 'native' | 'overlay';
  format: string;
}

/** `cachekit recover`: the way out of NEEDS_RECOVERY, as an owner open with the `recover` option. */
export function registerRecover(program: Command): void {
  program
    .command('recover')
    .description('repair a root that start-up refused (NEEDS_RECOVERY) without deleting unproven data')
    .addOption(rootOption())
    .addOption(
      new Option(
        '--mode <mode>',
        'rebuild-metadata: rebuild records from the snapshots; lost+found: keep consistent records, copy the rest to <root>/lost+found',
      )
        .choices(['rebuild-metadata', 'lost+found'])
        .makeOptionMandatory(),
    )
    .addOption(
      new Option('--snapshotter <kind>', 'the kind the root uses, if its metadata is lost (default native)').choices([
        'native',
        'overlay',
      ]),
    )
    .addOption(formatOption('text'))
    .action(async (flags: RecoverFlags) => {
      // Loaded only when this command runs: the engine is not needed to print help.
      // The root must exist and be a cachekit root, as on every command but demo; being damaged is why we are here.
      await requireCacheRoot(flags.root, { canCreate: false }).catch((err: unknown) => {
        if (!isCacheError(err, 'NEEDS_RECOVERY')) throw err;
      });
      const { openCacheManager } = await import('../../cache/manager.js');
      const cm = await openCacheManager({
        root: flags.root,
        recover: flags.mode,
        ...(flags.snapshotter ? { snapshotter: flags.snapshotter } : {}),
      });
      try {
        const { repairs, records } = cm.startup;
        if (flags.format === 'json') process.stdout.write(`${JSON.stringify({ records, repairs })}\n`);
        else {
          for (const r of repairs)
            process.stdout.write(
              `${r.action}${r.id ? ` ${terminalText(JSON.stringify(r.id))}` : ''}: ${terminalText(r.detail)}\n`,
            );
          process.stdout.write(`Recovered: ${records} records kept, ${repairs.length} repairs\n`);
        }
      } finally {
        await cm.close();
      }
    });
}
