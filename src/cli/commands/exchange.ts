import { type Command, Option } from 'commander';
import type { ExportProgress } from '../../cache/exchange/export.js';
import type { ImportProgress } from '../../cache/exchange/import.js';
import { formatSize } from '../../units/index.js';
import { terminalText } from '../escape.js';
import { rootOption, snapshotterFrom, type SnapshotterFlags, withSnapshotterOptions } from '../options.js';
import { ProgressLine } from '../progress.js';
import { requireCacheRoot } from '../root.js';

interface ExchangeFlags extends SnapshotterFlags {
  root: string;
  to?: string;
  from?: string;
  mode?: 'max' | 'min';
  compression?: 'gzip' | 'zstd' | 'uncompressed';
  key?: string[];
  insecure?: boolean;
  format?: 'text' | 'json';
}

const formatFlag = () =>
  new Option('--format <format>', 'text (default) or json: one JSON object per progress event')
    .choices(['text', 'json'])
    .default('text');
const insecureFlag = () => new Option('--insecure', 'allow plain HTTP to a registry that is not on loopback');

/** Each progress event as a line: JSON, or a short text one; a terminal also gets a running total. */
function reporter(format: 'text' | 'json', label: string) {
  const progress = new ProgressLine(label);
  let bytes = 0;
  let layers = 0;
  const out = (line: string) => {
    progress.done();
    process.stdout.write(`${line}\n`);
  };
  return {
    event(e: ExportProgress | ImportProgress, describe: (e: ExportProgress | ImportProgress) => string) {
      if (e.type === 'layer') {
        layers++;
        bytes += e.size;
      }
      if (format === 'json') out(JSON.stringify(e));
      else out(describe(e));
      progress.update(`${layers} layers, ${formatSize(bytes, { docker: true })}`);
    },
    done: () => progress.done(),
  };
}

async function openManager(flags: ExchangeFlags) {
  await requireCacheRoot(flags.root, { canCreate: false });
  // Loaded in the action: `cachekit --help` must not pay for the engine.
  const { openCacheManager } = await import('../../cache/manager.js');
  const snapshotter = snapshotterFrom(flags);
  return openCacheManager({ root: flags.root, ...(snapshotter ? { snapshotter } : {}) });
}

function describeEvent(e: ExportProgress | ImportProgress): string {
  switch (e.type) {
    case 'layer':
      return `${e.outcome.padEnd(8)} ${e.digest}  ${formatSize(e.size, { docker: true })}  ${terminalText(e.key ?? e.id)}`;
    case 'manifest':
      return `manifest ${e.digest}  ${terminalText(e.reference)}  (${e.records} records, ${e.layers} layers)`;
    case 'records':
      return `imported ${e.created.length} lazy records; kept ${e.kept.length} local ones whose key it names`;
  }
}

export function registerExchange(program: Command): void {
  withSnapshotterOptions(
    program
      .command('export')
      .description(
        'push cache records to an OCI registry: one layer per record, an OCI image manifest and a cachekit config. ' +
          'Credentials come from ~/.docker/config.json (auths).',
      )
      .addOption(rootOption()),
  )
    .requiredOption('--to <ref>', 'image reference to write, e.g. registry.example/team/cache:main')
    .addOption(
      new Option('--mode <mode>', 'max: every record with its key; min: keys of the tips only').choices(['max', 'min']),
    )
    .addOption(
      new Option('--compression <c>', 'layer compression (default gzip)').choices(['gzip', 'zstd', 'uncompressed']),
    )
    .option(
      '--key <key>',
      'export the record with this cache key (repeatable); default: every record with a key',
      (v: string, p?: string[]) => [...(p ?? []), v],
    )
    .addOption(insecureFlag())
    .addOption(formatFlag())
    .action(async (flags: ExchangeFlags) => {
      const cm = await openManager(flags);
      const report = reporter(flags.format ?? 'text', 'exporting');
      try {
        await new Promise<void>((resolve, reject) =>
          cm
            .export({
              to: flags.to!,
              ...(flags.mode ? { mode: flags.mode } : {}),
              ...(flags.compression ? { compression: flags.compression } : {}),
              ...(flags.key ? { keys: flags.key } : {}),
              ...(flags.insecure ? { insecure: true } : {}),
            })
            .subscribe({ next: (e) => report.event(e, describeEvent), error: reject, complete: resolve }),
        );
      } finally {
        report.done();
        await cm.close();
      }
    });

  withSnapshotterOptions(
    program
      .command('import')
      .description(
        'read a cache from an OCI registry as lazy records: keys and chains now, layers on first use ' +
          '(mount, size, or a record built on top). Records whose key is already here stay as they are.',
      )
      .addOption(rootOption()),
  )
    .requiredOption('--from <ref>', 'image reference to read, e.g. registry.example/team/cache:main')
    .addOption(insecureFlag())
    .addOption(formatFlag())
    .action(async (flags: ExchangeFlags) => {
      const cm = await openManager(flags);
      const report = reporter(flags.format ?? 'text', 'importing');
      try {
        await new Promise<void>((resolve, reject) =>
          cm
            .import({ from: flags.from!, ...(flags.insecure ? { insecure: true } : {}) })
            .subscribe({ next: (e) => report.event(e, describeEvent), error: reject, complete: resolve }),
        );
      } finally {
        report.done();
        await cm.close();
      }
    });
}
