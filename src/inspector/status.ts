import { asyncScheduler, filter, interval, map, merge, of, shareReplay, throttleTime, type Observable } from 'rxjs';
import type { ManagerInspection } from '../cache/manager.js';
import { statusOf, type InspectorSource } from './source.js';

/** What the page's status panel and diagram badges show; `at` lets the page age in-flight operations. */
export interface InspectorStatus extends ManagerInspection {
  at: number;
}

/** Lifecycle events that can change counts, queue or in-flight operations. */
const MOVES = new Set(['record.transition', 'record.removed', 'record.created', 'op', 'prune.removed', 'gc.done']);

/**
 * One status stream shared by every connected page: reading the status walks all
 * records, so it runs at most five times a second whatever the number of pages
 * or the event rate, plus a heartbeat so operations in flight without events
 * still show their age. Stops when the last page disconnects.
 */
export function statusFeed(
  source: InspectorSource,
  options: { throttleMs?: number; heartbeatMs?: number } = {},
): Observable<InspectorStatus> {
  const throttleMs = options.throttleMs ?? 200;
  const heartbeatMs = options.heartbeatMs ?? 1000;
  return merge(of(0), interval(heartbeatMs), source.events$.pipe(filter((e) => MOVES.has(e.type)))).pipe(
    throttleTime(throttleMs, asyncScheduler, { leading: true, trailing: true }),
    map(() => ({ ...statusOf(source), at: Date.now() })),
    shareReplay({ bufferSize: 1, refCount: true }),
  );
}
