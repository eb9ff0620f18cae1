import { Observable } from 'rxjs';
import type { RecordState } from '../../machines/record.machine.js';
import type { RecordIndex, TransitionReport } from './records/record-index.js';
import type { RecordMetadata } from './refs.js';
import { isFilterSyntaxError, matchFilter, parseFilters, showFilter } from '../filters/index.js';
import { CacheError } from './errors.js';

/** Fields a records$ filter may name, in containerd's syntax. */
export const VIEW_FILTER_FIELDS = ['id', 'state', 'parent', 'description', 'type', 'key'] as const;

/** A predicate over record views from containerd-syntax filters; INVALID naming the bad part. */
export function viewFilter(filters: readonly string[]): (view: RecordView) => boolean {
  let expr: ReturnType<typeof parseFilters>;
  try {
    expr = parseFilters(filters, { allowedFields: VIEW_FILTER_FIELDS });
  } catch (err) {
    if (isFilterSyntaxError(err))
      throw new CacheError(
        'INVALID',
        `records$ filter ${showFilter(err.filter)}: ${err.reason} at offset ${err.position}`,
      );
    throw err;
  }
  return (view) =>
    matchFilter(expr, ([field]) => {
      switch (field) {
        case 'id':
          return view.id;
        case 'state':
          return view.state;
        case 'parent':
          return view.parent;
        case 'description':
          return view.metadata.description;
        case 'type':
          return view.metadata.recordType;
        case 'key':
          return view.metadata.key;
        default:
          return undefined;
      }
    });
}

/** One record as the manager sees it now. */
export interface RecordView {
  id: string;
  state: RecordState;
  /** Open ImmutableRefs (clones included); a held mutable record shows as state `mutable.held`. */
  refs: number;
  children: number;
  parent: string | undefined;
  /** Known size in bytes, when it has been computed. */
  size: number | undefined;
  metadata: RecordMetadata;
}

/** The live view of the whole cache: one snapshot, then changes. */
export type RecordsDelta =
  | { type: 'snapshot'; records: RecordView[] }
  | { type: 'upsert'; record: RecordView }
  | { type: 'remove'; id: string };

export interface ObserverOptions {
  /** Transitions kept per record. */
  historyLength: number;
  /** Records whose history is kept; the least recently changed are forgotten first. */
  historyRecords: number;
}

/**
 * Per-record history and the watch/records$ streams, built on the record
 * table's change notifications. Only records used since open have history.
 */
export class RecordObserver {
  private readonly histories = new Map<string, TransitionReport[]>();

  constructor(
    private readonly table: RecordIndex,
    private readonly view: (id: string) => RecordView,
    private readonly options: ObserverOptions = { historyLength: 32, historyRecords: 10_000 },
  ) {
    table.transitions.subscribe((t) => this.remember(t));
    table.removals.subscribe(({ id }) => this.histories.delete(id));
  }

  history(id: string): TransitionReport[] {
    return [...(this.histories.get(id) ?? [])];
  }

  watch(id: string): Observable<RecordView> {
    return new Observable<RecordView>((subscriber) => {
      try {
        subscriber.next(this.view(id));
      } catch (err) {
        subscriber.error(err);
        return;
      }
      const changes = this.table.changes.subscribe((changed) => {
        if (changed === id && this.table.has(id)) subscriber.next(this.view(id));
      });
      const removals = this.table.removals.subscribe((r) => {
        if (r.id === id) subscriber.complete();
      });
      return () => {
        changes.unsubscribe();
        removals.unsubscribe();
      };
    });
  }

  records$(matches: (view: RecordView) => boolean = () => true): Observable<RecordsDelta> {
    return new Observable<RecordsDelta>((subscriber) => {
      const shown = new Set<string>();
      const records: RecordView[] = [];
      for (const id of this.table.ids()) {
        const v = this.view(id);
        if (!matches(v)) continue;
        shown.add(id);
        records.push(v);
      }
      subscriber.next({ type: 'snapshot', records });
      const changes = this.table.changes.subscribe((id) => {
        if (!this.table.has(id)) return;
        const v = this.view(id);
        if (matches(v)) {
          shown.add(id);
          subscriber.next({ type: 'upsert', record: v });
        } else if (shown.delete(id)) subscriber.next({ type: 'remove', id });
      });
      const removals = this.table.removals.subscribe(({ id }) => {
        if (shown.delete(id)) subscriber.next({ type: 'remove', id });
      });
      return () => {
        changes.unsubscribe();
        removals.unsubscribe();
      };
    });
  }

  private remember(t: TransitionReport): void {
    let list = this.histories.get(t.id);
    if (list) this.histories.delete(t.id);
    else {
      list = [];
      if (this.histories.size >= this.options.historyRecords)
        this.histories.delete(this.histories.keys().next().value!);
    }
    list.push(t);
    if (list.length > this.options.historyLength) list.shift();
    // Re-inserting keeps the map ordered by last change, so the oldest is forgotten first.
    this.histories.set(t.id, list);
  }
}
