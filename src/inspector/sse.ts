import type { ServerResponse } from 'node:http';
import type { Observable, Subscription } from 'rxjs';
import type { CacheManager } from '../cache/manager.js';
import type { CacheEvent } from '../cache/events.js';
import { DeltaCoalescer } from './coalescer.js';
import type { RecordMirror } from './mirror.js';
import type { InspectorStatus } from './status.js';

export interface StreamOptions {
  /** Delay between flushes: the page gets at most one update message per period. */
  flushMs: number;
  /** Rows per snapshot message, so the page can draw its first screen before the rest arrives. */
  snapshotChunk: number;
  /** Most recent events kept for the activity log between flushes. */
  recentEvents: number;
  keepAliveMs: number;
}

export const DEFAULT_STREAM_OPTIONS: StreamOptions = { flushMs: 100, snapshotChunk: 5000, recentEvents: 50, keepAliveMs: 15_000 };

/**
 * One page's Server-Sent Events stream:
 * - `snapshot` messages: every record, in chunks (`first` resets the page's table, `last` ends the snapshot);
 * - `update` messages, at most one per flush period: coalesced row upserts and removals, the latest
 *   events, and the status when it changed.
 * A client whose socket is full is skipped until it drains; its pending rows keep coalescing by id.
 * Returns a function that ends the stream.
 */
export function openEventStream(
  cm: CacheManager,
  mirror: RecordMirror,
  status$: Observable<InspectorStatus>,
  res: ServerResponse,
  options: StreamOptions = DEFAULT_STREAM_OPTIONS,
): () => void {
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  res.write('retry: 2000\n\n');
  const send = (event: string, data: unknown) => res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);

  const coalescer = new DeltaCoalescer();
  let events: CacheEvent[] = [];
  let status: InspectorStatus | undefined;
  const subs: Subscription[] = [];
  const timers: NodeJS.Timeout[] = [];
  let ended = false;
  const end = () => {
    if (ended) return;
    ended = true;
    for (const t of timers) clearInterval(t);
    for (const s of subs) s.unsubscribe();
    res.end();
  };
  // The response's close, not the request's: a GET's request side is done as soon as it is read.
  res.on('close', end);

  const rows = mirror.snapshot();
  const chunk = options.snapshotChunk;
  for (let start = 0; start === 0 || start < rows.length; start += chunk) {
    send('snapshot', { rows: rows.slice(start, start + chunk), first: start === 0, last: start + chunk >= rows.length, total: rows.length });
  }
  // A failing source ends this page's stream; the page reconnects and starts from a new snapshot.
  subs.push(mirror.deltas$.subscribe({ next: (d) => coalescer.add(d), error: end, complete: end }));
  subs.push(
    cm.events$.subscribe({
      next: (e) => {
        events.push(e);
        if (events.length > options.recentEvents * 2) events = events.slice(-options.recentEvents);
      },
      error: end,
    }),
  );
  subs.push(status$.subscribe({ next: (s) => (status = s), error: end }));
  if (ended) {
    for (const s of subs) s.unsubscribe();
    return end;
  }

  const flush = () => {
    if (res.writableNeedDrain) return;
    const records = coalescer.drain();
    const update: Record<string, unknown> = {};
    if (records) update.records = records;
    if (events.length) update.events = events.slice(-options.recentEvents);
    if (status) update.status = status;
    events = [];
    status = undefined;
    if (Object.keys(update).length) send('update', update);
  };
  timers.push(setInterval(flush, options.flushMs));
  timers.push(setInterval(() => res.write(': keep-alive\n\n'), options.keepAliveMs));
  return end;
}
