import type { Command } from 'commander';
import { untilInterrupted } from '../signals.js';
import { formatOption, rootOption } from '../options.js';
import { requireCacheRoot } from '../root.js';
import type { RecordView } from '../../cache/observe.js';
import { terminalText as t } from '../escape.js';
import type { SourceName } from '../live.js';

/**
 * One line of `cachekit watch`, each with the `source` it came from. `record.created` and `record.changed` name
 * stored states (mutable, frozen, committed), which every source knows; `record.transition` names the owner's
 * machine states (`mutable.held` -> `mutable.idle`) and comes from the owner only. `watch.source` says the
 * source changed (the owner went away: the watch goes on from the stored metadata).
 */
export type WatchLine = (
  | { type: 'watch.started'; records: number; at: number }
  | { type: 'watch.source'; reason: string; at: number }
  | { type: 'record.created'; id: string; state: string; at: number }
  | { type: 'record.changed'; id: string; from: string; to: string; at: number }
  | { type: 'record.removed'; id: string; at: number }
  | { type: 'record.transition'; id: string; from: string; to: string; event: string; at: number }
  | { type: 'events.dropped'; count: number; at: number }
) & { source: SourceName };

/**
 * Follows a cache another process owns: through the owner's control socket when it serves one, else through a
 * read-only manager that re-reads the owner's metadata at an interval. It never writes and never takes the lock.
 */
export function registerWatch(program: Command): void {
  program
    .command('watch')
    .description('stream record changes of a cache as lines; safe on a root another process owns')
    .addOption(rootOption())
    .addOption(formatOption('text'))
    .option('--interval <ms>', 'how often to read the metadata, when no owner serves its control socket', '250')
    .action(async (opts: { root: string; format: string; interval: string }) => {
      const interval = Number(opts.interval);
      if (!Number.isInteger(interval) || interval < 10)
        throw new Error(`--interval ${opts.interval}: expected a whole number of ms, at least 10`);
      await requireCacheRoot(opts.root, { canCreate: false });
      // Loaded in the action: `cachekit --help` must not pay for the engine.
      const [{ watchCache, sourceLine }, { stateFacts }] = await Promise.all([
        import('../live.js'),
        import('../../cache/records/rules.js'),
      ]);
      /** A record's state as stored: the part of its machine state that every source can see. */
      const storedOf = (view: RecordView): string => stateFacts(view.state).stored ?? view.state;
      let source: SourceName = 'metadata';
      let started = false;
      const print = (line: WatchLine) =>
        process.stdout.write(opts.format === 'json' ? `${JSON.stringify(line)}\n` : text(opts.root, line, sourceLine));
      const last = new Map<string, { stored: string; usageCount: number }>();
      const upsert = (record: RecordView, at: number) => {
        const before = last.get(record.id);
        const now = { stored: storedOf(record), usageCount: record.metadata.usageCount };
        last.set(record.id, now);
        if (!before) print({ type: 'record.created', id: record.id, state: now.stored, at, source });
        else if (before.stored !== now.stored || before.usageCount !== now.usageCount)
          print({ type: 'record.changed', id: record.id, from: before.stored, to: now.stored, at, source });
      };
      const stop = await watchCache(opts.root, interval, {
        source: (name, reason) => {
          source = name;
          if (started) print({ type: 'watch.source', reason: reason ?? '', at: Date.now(), source });
        },
        delta: (delta) => {
          const at = Date.now();
          if (delta.type === 'snapshot') {
            // A later snapshot (after the source changed) reports only what differs from what was shown.
            if (!started) {
              for (const r of delta.records) last.set(r.id, { stored: storedOf(r), usageCount: r.metadata.usageCount });
              started = true;
              return print({ type: 'watch.started', records: delta.records.length, at, source });
            }
            const seen = new Set(delta.records.map((r) => r.id));
            for (const id of [...last.keys()])
              if (!seen.has(id)) {
                last.delete(id);
                print({ type: 'record.removed', id, at, source });
              }
            for (const r of delta.records) upsert(r, at);
          } else if (delta.type === 'upsert') upsert(delta.record, at);
          else if (last.delete(delta.id)) print({ type: 'record.removed', id: delta.id, at, source });
        },
        transition: (tr) => print({ type: 'record.transition', ...tr, source }),
        dropped: (count) => print({ type: 'events.dropped', count, at: Date.now(), source }),
      });
      await untilInterrupted();
      await stop();
    });
}

function text(root: string, line: WatchLine, sourceLine: (s: SourceName, reason?: string) => string): string {
  if (line.type === 'watch.started')
    return `watching ${t(root)}: ${line.records} records (${sourceLine(line.source, undefined)})\n`;
  const at = new Date(line.at).toISOString();
  if (line.type === 'watch.source') return `${at} ${sourceLine(line.source, line.reason)}\n`;
  if (line.type === 'events.dropped') return `${at} events.dropped ${line.count} transitions lost\n`;
  const detail =
    line.type === 'record.changed'
      ? ` ${line.from} -> ${line.to}`
      : line.type === 'record.created'
        ? ` ${line.state}`
        : line.type === 'record.transition'
          ? ` ${line.from} --${t(line.event)}--> ${line.to}`
          : '';
  return `${at} ${line.type} ${t(line.id)}${detail}\n`;
}
