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

  /**
   * The oldest changes, up to about `maxBytes` of JSON (at least one), taken out of the buffer;
   * undefined when nothing changed. What is left stays buffered for the next drain, still one entry
   * per record, so a page applying the drains in order ends at the latest row of every record.
   */
  drain(maxBytes = Number.POSITIVE_INFINITY): CoalescedDeltas | undefined {
    if (this.pending.size === 0) return undefined;
    const upserts: RecordRow[] = [];
    const removes: string[] = [];
    let bytes = 0;
    for (const [id, row] of this.pending) {
      // A comma and the JSON of the row or the quoted id.
      const size = 1 + (row ? Buffer.byteLength(JSON.stringify(row)) : Buffer.byteLength(JSON.stringify(id)));
      if (bytes > 0 && bytes + size > maxBytes) break;
      bytes += size;
      if (row) upserts.push(row);
      else removes.push(id);
      this.pending.delete(id);
    }
    return { upserts, removes };
  }
}
