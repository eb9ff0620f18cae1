import type { Command } from 'commander';
import { untilInterrupted } from '../signals.js';
import {
  createOption,
  rootOption,
  snapshotterFrom,
  withSnapshotterOptions,
  type SnapshotterFlags,
} from '../options.js';
import { requireCacheRoot } from '../root.js';
import { checkInspectorOptions, type InspectorServer } from '../../inspector/index.js';
import { terminalText } from '../escape.js';

/** Parses --port: a whole number from 0 to 65535 (0 picks a free port). */
function parsePort(value: string): number {
  if (!/^\d{1,5}$/.test(value) || Number(value) > 65535)
    throw new Error(`--port ${value}: expected a whole number from 0 to 65535`);
  return Number(value);
}

export function registerServe(program: Command): void {
  withSnapshotterOptions(
    program
      .command('serve')
      .description('serve a live, read-only web view of the cache (loopback only unless --allow-remote)')
      .addOption(rootOption()),
  )
    .addOption(createOption())
    .option('--port <n>', 'TCP port (0 picks a free one)', '0')
    .option('--host <host>', 'interface to listen on', '127.0.0.1')
    .option('--allow-remote', 'allow a --host that resolves beyond loopback (0.0.0.0, a LAN address or name)')
    .action(
      async (
        opts: { root: string; create?: boolean; port: string; host: string; allowRemote?: boolean } & SnapshotterFlags,
      ) => {
        const port = parsePort(opts.port);
        const allowRemote = opts.allowRemote === true;
        // A host that cannot be used is refused before the root is opened (serveInspector checks again).
        await checkInspectorOptions({ port, host: opts.host, allowRemote });
        await requireCacheRoot(opts.root, { create: opts.create, canCreate: true });
        // Loaded in the action: `cachekit --help` must not pay for the engine.
        const [{ openCacheManager }, { serveInspector }] = await Promise.all([
          import('../../cache/manager.js'),
          import('../../inspector/index.js'),
        ]);
        const snapshotter = snapshotterFrom(opts);
        const cm = await openCacheManager({ root: opts.root, ...(snapshotter ? { snapshotter } : {}) });
        let inspector: InspectorServer | undefined;
        try {
          inspector = await serveInspector(cm, { port, host: opts.host, allowRemote });
        } catch (err) {
          await cm.close();
          throw err;
        }
        if (allowRemote)
          process.stderr.write(
            `warning: --allow-remote: anyone who can reach ${terminalText(opts.host)} and has the URL can read this cache\n`,
          );
        process.stdout.write(
          `cachekit inspector for ${terminalText(opts.root)}: ${inspector.url}\n(the token in the URL is required; press Ctrl-C to stop)\n`,
        );
        await untilInterrupted();
        await inspector.close();
        await cm.close();
      },
    );
}
