import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Observable, Subscription } from 'rxjs';
import type { CacheManager } from '../cache/manager.js';
import type { CacheEvent } from '../cache/events.js';
import { DeltaCoalescer } from './coalescer.js';
import { toRow } from './rows.js';
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
  status$: Observable<InspectorStatus>,
  req: IncomingMessage,
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

  subs.push(
    cm.records$().subscribe((delta) => {
      if (delta.type !== 'snapshot') {
        coalescer.add(delta);
        return;
      }
      const total = delta.records.length;
      const chunk = options.snapshotChunk;
      for (let start = 0; start === 0 || start < total; start += chunk) {
        const rows = delta.records.slice(start, start + chunk).map(toRow);
        send('snapshot', { rows, first: start === 0, last: start + chunk >= total, total });
      }
    }),
  );
  subs.push(
    cm.events$.subscribe((e) => {
      events.push(e);
      if (events.length > options.recentEvents * 2) events = events.slice(-options.recentEvents);
    }),
  );
  subs.push(status$.subscribe((s) => (status = s)));

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
  const flushTimer = setInterval(flush, options.flushMs);
  const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), options.keepAliveMs);

  let ended = false;
  const end = () => {
    if (ended) return;
    ended = true;
    clearInterval(flushTimer);
    clearInterval(keepAlive);
    for (const s of subs) s.unsubscribe();
    res.end();
  };
  req.on('close', end);
  res.on('close', end);
  return end;
}
