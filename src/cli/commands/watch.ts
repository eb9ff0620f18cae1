import type { Command } from 'commander';
import { untilInterrupted } from '../signals.js';
import { formatOption, rootOption } from '../options.js';
import type { MetadataStore } from '../../metadata/store.js';
import type { RecordMeta } from '../../metadata/schema.js';
import { join } from 'node:path';

/** A change seen between two reads of the stored records. */
export type StoredChange =
  | { type: 'watch.started'; records: number; at: number }
  | { type: 'record.created'; id: string; state: string; at: number }
  | { type: 'record.changed'; id: string; from: string; to: string; at: number }
  | { type: 'record.removed'; id: string; at: number };

/** Compares two reads of the stored records; stored states are mutable, frozen, committed and removing. */
export function diffStored(
  before: Map<string, RecordMeta>,
  after: Map<string, RecordMeta>,
  at: number,
): StoredChange[] {
  const changes: StoredChange[] = [];
  for (const [id, meta] of after) {
    const old = before.get(id);
    if (!old) changes.push({ type: 'record.created', id, state: meta.state, at });
    else if (old.state !== meta.state || old.usageCount !== meta.usageCount)
      changes.push({ type: 'record.changed', id, from: old.state, to: meta.state, at });
  }
  for (const id of before.keys()) if (!after.has(id)) changes.push({ type: 'record.removed', id, at });
  return changes;
}

function readAll(store: MetadataStore): Map<string, RecordMeta> {
  store.refresh();
  return new Map([...store.all(() => {})].map((m) => [m.id, m]));
}

/**
 * Follows a cache another process owns by reading its metadata read-only at an
 * interval: it sees every durable change, never writes, and never takes the lock.
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
      // Loaded in the action: `cachekit --help` must not pay for the engine.
      const { MetadataStore } = await import('../../metadata/store.js');
      const store = await MetadataStore.open(join(opts.root, 'metadata'), { readOnly: true });
      let last = readAll(store);
      const print = (c: StoredChange) =>
        process.stdout.write(
          opts.format === 'json'
            ? `${JSON.stringify(c)}\n`
            : c.type === 'watch.started'
              ? `watching ${opts.root}: ${c.records} records\n`
              : `${new Date(c.at).toISOString()} ${c.type} ${c.id}${c.type === 'record.changed' ? ` ${c.from} -> ${c.to}` : c.type === 'record.created' ? ` ${c.state}` : ''}\n`,
        );
      print({ type: 'watch.started', records: last.size, at: Date.now() });
      const timer = setInterval(() => {
        const now = readAll(store);
        for (const change of diffStored(last, now, Date.now())) print(change);
        last = now;
      }, interval);
      await untilInterrupted();
      clearInterval(timer);
      await store.close();
    });
}
