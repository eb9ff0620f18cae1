import type { Observable } from 'rxjs';
import type { CacheEvent } from '../cache/events.js';
import type { ManagerInspection } from '../cache/manager.js';
import type { RecordsDelta, RecordView } from '../cache/observe.js';
import type { TransitionReport } from '../cache/records/record-index.js';

/**
 * The name of the manager's status method, read only through {@link statusOf}.
 * When the manager's `inspect()` is renamed `status()`, this line is the one to change.
 */
const STATUS_METHOD = 'inspect';

/**
 * What the inspector reads from a cache, and nothing more: a CacheManager
 * satisfies it as it is, and the engine never has to know the inspector exists.
 * Every member only reads.
 */
export interface InspectorSource extends Record<typeof STATUS_METHOD, () => ManagerInspection> {
  /** Every change as it happens; feeds the activity log and wakes the status feed. */
  readonly events$: Observable<CacheEvent>;
  /** The whole cache as a snapshot, then upserts and removals. */
  records$(): Observable<RecordsDelta>;
  /** One record now; throws CacheError NOT_FOUND for an unknown id. */
  describe(id: string): RecordView;
  /** The last transitions of a record. */
  history(id: string): TransitionReport[];
}

/** The source's status: supervisor, queue, in-flight operations and records per state. */
export function statusOf(source: InspectorSource): ManagerInspection {
  return source[STATUS_METHOD]();
}
