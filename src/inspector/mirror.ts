import { Subject, type Observable, type Subscription } from 'rxjs';
import type { InspectorSource } from './source.js';
import { toRow, type RecordRow } from './rows.js';

/** A change to the mirrored table: the row as it is now, or the id of a row gone. */
export type RowDelta = { type: 'upsert'; row: RecordRow } | { type: 'remove'; id: string };

/**
 * The server's one copy of the records table, kept current from a single
 * `records$()` subscription. Describing 100k records takes seconds of the
 * event loop the manager also runs on, so it is done once per server, not once
 * per page load: a page connecting later gets its snapshot from these rows.
 */
export class RecordMirror {
  private readonly rows = new Map<string, RecordRow>();
  private readonly changes = new Subject<RowDelta>();
  private subscription: Subscription | undefined;

  /** Rows in the order records first appeared, then every change. */
  readonly deltas$: Observable<RowDelta> = this.changes.asObservable();

  constructor(private readonly source: InspectorSource) {}

  private ensureStarted(): void {
    if (this.subscription) return;
    this.subscription = this.source.records$().subscribe({
      next: (delta) => {
        if (delta.type === 'snapshot') {
          for (const view of delta.records) this.rows.set(view.id, toRow(view));
        } else if (delta.type === 'upsert') {
          const row = toRow(delta.record);
          this.rows.set(row[0], row);
          this.changes.next({ type: 'upsert', row });
        } else if (this.rows.delete(delta.id)) {
          this.changes.next({ type: 'remove', id: delta.id });
        }
      },
      error: (err: unknown) => this.changes.error(err),
      complete: () => this.changes.complete(),
    });
  }

  /** Every row now, in table order. */
  snapshot(): RecordRow[] {
    this.ensureStarted();
    return [...this.rows.values()];
  }

  /** Number of records now. */
  get size(): number {
    this.ensureStarted();
    return this.rows.size;
  }

  /** Rows [offset, offset + limit) in table order, walking no further than needed. */
  page(offset: number, limit: number): RecordRow[] {
    this.ensureStarted();
    const out: RecordRow[] = [];
    let i = 0;
    for (const row of this.rows.values()) {
      if (i++ < offset) continue;
      if (out.length >= limit) break;
      out.push(row);
    }
    return out;
  }

  stop(): void {
    this.subscription?.unsubscribe();
    this.changes.complete();
  }
}
