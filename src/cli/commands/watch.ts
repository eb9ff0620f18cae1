import type { Command } from 'commander';
import { untilInterrupted } from '../signals.js';
import { formatOption, rootOption } from '../options.js';
import { requireCacheRoot } from '../root.js';
import type { RecordView } from '../../cache/observe.js';

/** One line of `cachekit watch`: stored states are mutable, frozen, committed (what a reader can see). */
export type WatchLine =
  | { type: 'watch.started'; records: number; at: number }
  | { type: 'record.created'; id: string; state: string; at: number }
  | { type: 'record.changed'; id: string; from: string; to: string; at: number }
  | { type: 'record.removed'; id: string; at: number };

/**
 * Follows a cache another process owns through a read-only manager: it
 * re-reads the owner's metadata at an interval and prints what records$
 * reports. It never writes and never takes the lock.
 */
export function registerWatch(program: Command): void {
  program
    .command('watch')
    .description('stream record changes of a cache as lines; safe on a root another process owns')
    .addOption(rootOption())
    .addOption(formatOption('text'))
    .option('--interval <ms>', 'how often to read the metadata', '250')
    .action(async (opts: { root: string; format: string; interval: string }) => {
      const interval = Number(opts.interval);
      if (!Number.isInteger(interval) || interval < 10)
        throw new Error(`--interval ${opts.interval}: expected a whole number of ms, at least 10`);
      await requireCacheRoot(opts.root, { canCreate: false });
      // Loaded in the action: `cachekit --help` must not pay for the engine.
      const [{ openCacheManager }, { stateFacts }] = await Promise.all([
        import('../../cache/manager.js'),
        import('../../cache/records/rules.js'),
      ]);
      /** A record's state as stored: the part of its machine state that another process can see. */
      const storedOf = (view: RecordView): string => stateFacts(view.state).stored ?? view.state;
      const cm = await openCacheManager({ root: opts.root, readOnly: true });
      const print = (line: WatchLine) =>
        process.stdout.write(opts.format === 'json' ? `${JSON.stringify(line)}\n` : text(opts.root, line));
      const last = new Map<string, { stored: string; usageCount: number }>();
      const sub = cm.records$().subscribe((delta) => {
        const at = Date.now();
        if (delta.type === 'snapshot') {
          for (const r of delta.records) last.set(r.id, { stored: storedOf(r), usageCount: r.metadata.usageCount });
          print({ type: 'watch.started', records: delta.records.length, at });
        } else if (delta.type === 'upsert') {
          const { record } = delta;
          const before = last.get(record.id);
          const now = { stored: storedOf(record), usageCount: record.metadata.usageCount };
          last.set(record.id, now);
          if (!before) print({ type: 'record.created', id: record.id, state: now.stored, at });
          else if (before.stored !== now.stored || before.usageCount !== now.usageCount)
            print({ type: 'record.changed', id: record.id, from: before.stored, to: now.stored, at });
        } else if (last.delete(delta.id)) print({ type: 'record.removed', id: delta.id, at });
      });
      const timer = setInterval(() => cm.refresh(), interval);
      await untilInterrupted();
      clearInterval(timer);
      sub.unsubscribe();
      await cm.close();
    });
}

function text(root: string, line: WatchLine): string {
  if (line.type === 'watch.started') return `watching ${root}: ${line.records} records\n`;
  const detail =
    line.type === 'record.changed'
      ? ` ${line.from} -> ${line.to}`
      : line.type === 'record.created'
        ? ` ${line.state}`
        : '';
  return `${new Date(line.at).toISOString()} ${line.type} ${line.id}${detail}\n`;
}
