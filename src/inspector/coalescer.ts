import type { RowDelta } from './mirror.js';
import type { RecordRow } from './rows.js';

/** What one flush sends: the latest row of every record changed since the last flush, and the ids removed. */
export interface CoalescedDeltas {
  upserts: RecordRow[];
  removes: string[];
}

/**
 * Buffers row changes by id between flushes, so a record that changes fifty
 * times in 100 ms costs the page one row, and a slow client holds at most one
 * pending entry per record however long it lags.
 */
export class DeltaCoalescer {
  /** id → latest row, or null when the last thing that happened to it was removal. */
  private readonly pending = new Map<string, RecordRow | null>();

  add(delta: RowDelta): void {
    const id = delta.type === 'upsert' ? delta.row[0] : delta.id;
    // Delete first so the map's order is the order of last change.
    this.pending.delete(id);
    this.pending.set(id, delta.type === 'upsert' ? delta.row : null);
  }

  get size(): number {
    return this.pending.size;
  }

  /** Everything buffered, emptied; undefined when nothing changed. */
  drain(): CoalescedDeltas | undefined {
    if (this.pending.size === 0) return undefined;
    const upserts: RecordRow[] = [];
    const removes: string[] = [];
    for (const [id, row] of this.pending) {
      if (row) upserts.push(row);
      else removes.push(id);
    }
    this.pending.clear();
    return { upserts, removes };
  }
}
