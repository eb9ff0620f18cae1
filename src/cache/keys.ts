import { randomBytes } from 'node:crypto';
import type { RecordState } from '../../machines/record.machine.js';
import { hasTag, stateFacts } from './records/rules.js';

/**
 * Snapshot keys of a record. A record keeps one id for life; its snapshot is
 * active under `active/<id>` until finalized, then committed as `committed/<id>`.
 * Views made for read-only mounts live under `view/<id>/<n>`.
 */
export const activeKey = (id: string): string => `active/${id}`;
export const committedKey = (id: string): string => `committed/${id}`;
export const viewKey = (id: string, n: number): string => `view/${id}/${n}`;

export type SnapshotRole = { role: 'active' | 'committed'; id: string } | { role: 'view'; id: string; n: number };

export function parseSnapshotKey(key: string): SnapshotRole | undefined {
  const m = /^(active|committed)\/([^/]+)$/.exec(key);
  if (m) return { role: m[1] as 'active' | 'committed', id: m[2]! };
  const v = /^view\/([^/]+)\/(\d+)$/.exec(key);
  if (v) return { role: 'view', id: v[1]!, n: Number(v[2]) };
  return undefined;
}

const ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyz';

/** A 25-character base36 id, like BuildKit's: about 129 bits of randomness. */
export function newRecordId(): string {
  const bytes = randomBytes(25);
  let id = '';
  for (const b of bytes) id += ALPHABET[b % 36];
  return id;
}

/** Snapshot key of the record's current content, as the machine's `committedContent` tag says. */
export function contentKey(id: string, state: RecordState): string {
  return hasTag(state, 'committedContent') ? committedKey(id) : activeKey(id);
}

/**
 * Keys that may hold the record's content, most likely first: a record on its way out (the
 * machine's `removal` tag) may have had its committed snapshot or its active one.
 */
export function contentKeys(id: string, state: RecordState): string[] {
  return hasTag(state, 'removal') ? [committedKey(id), activeKey(id)] : [contentKey(id, state)];
}

/** The key under which concurrent sizings of one record's current content share a walk. */
export function sizeKey(id: string, state: RecordState): string {
  return `${id}@${stateFacts(state).stored ?? state}`;
}
