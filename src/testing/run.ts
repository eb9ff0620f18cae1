import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { CacheManager } from '../cache/manager.js';
import type { CacheManagerOptions } from '../cache/open.js';
import { openSnapshotter } from '../cache/open-snapshotter.js';
import type { Snapshotter } from '../snapshot/types.js';
import type { CacheCommand } from './commands.js';
import { cacheModel } from './model.js';
import { startCrashOwner } from './crash-owner.js';
import { type RealCache, type RootHandover, realCache } from './real-cache.js';
import { scheduledSnapshotter } from './scheduled-snapshotter.js';

/** Options of one model run against a fresh cache. */
export interface CacheRunOptions {
  /** Orders snapshot I/O completions (`fc.scheduler()`); without it I/O completes as it happens. */
  scheduler?: fc.Scheduler;
  /** The built-in snapshotter the run's cache uses; default native (fast, no mounts). */
  kind?: 'native' | 'overlay';
  /** Wraps the snapshotter, for faults (`faultySnapshotter`) or your own tracing. */
  snapshotter?: (inner: Snapshotter) => Snapshotter;
  /** Other manager options (a manual clock, GC policies). */
  manager?: Omit<CacheManagerOptions, 'root' | 'snapshotter'>;
  /** Called with every manager the run opens (the first, and each reopen): attach coverage here. */
  onManager?: (cm: CacheManager) => void;
  /** Where the temporary root goes; default the OS temp dir. */
  tmp?: string;
}

/**
 * Runs one command sequence against a new cache on a temporary root and a new model, with
 * `fc.asyncModelRun`; the root is removed afterwards, whatever happened.
 */
export async function runCacheCommands(cmds: Iterable<CacheCommand>, options: CacheRunOptions = {}): Promise<void> {
  const root = await mkdtemp(join(options.tmp ?? tmpdir(), 'cachekit-model-'));
  const kind = options.kind ?? 'native';
  const dir = join(root, 'snapshots');
  // The store is closed while a crash hands the root to a child; the wrappers keep forwarding to the one open now.
  let inner: Snapshotter | undefined;
  let real: RealCache | undefined;
  try {
    inner = await openSnapshotter({ kind }, dir);
    const current = forwarding(() => {
      if (!inner) throw new Error('model run: the snapshotter is closed while another process owns the root');
      return inner;
    });
    const scheduled = options.scheduler ? scheduledSnapshotter(current, options.scheduler) : current;
    const snapshotter = options.snapshotter ? options.snapshotter(scheduled) : scheduled;
    const open = async () => {
      inner ??= await openSnapshotter({ kind }, dir);
      const cm = await CacheManager.open({ ...options.manager, root, snapshotter });
      options.onManager?.(cm);
      return cm;
    };
    const handover: RootHandover = {
      async closeSnapshotter() {
        const closing = inner;
        inner = undefined;
        await closing?.close();
      },
      startOwner: () => startCrashOwner(root, kind),
    };
    real = realCache(open, await open(), options.scheduler, handover);
    const system = real;
    await fc.asyncModelRun(() => ({ model: cacheModel(), real: system }), cmds);
  } finally {
    if (real) {
      for (const ref of real.refs.values()) await real.drive(ref.release()).catch(() => {});
      await real.drive(real.cm.close()).catch(() => {});
    }
    await inner?.close().catch(() => {});
    await rm(root, { recursive: true, force: true });
  }
}

/** A snapshotter that forwards every call to the one `get` returns at the time of the call. */
function forwarding(get: () => Snapshotter): Snapshotter {
  return {
    stat: (...a) => get().stat(...a),
    update: (...a) => get().update(...a),
    usage: (...a) => get().usage(...a),
    mounts: (...a) => get().mounts(...a),
    prepare: (...a) => get().prepare(...a),
    view: (...a) => get().view(...a),
    commit: (...a) => get().commit(...a),
    remove: (...a) => get().remove(...a),
    walk: (...a) => get().walk(...a),
    // The run closes the store itself: a manager given this one never owns it.
    close: async () => {},
    cleanup: async () => get().cleanup?.(),
  };
}
