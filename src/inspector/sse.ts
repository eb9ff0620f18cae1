import type { ServerResponse } from 'node:http';
import type { Observable, Subscription } from 'rxjs';
import type { CacheEvent } from '../cache/events.js';
import { DeltaCoalescer } from './coalescer.js';
import type { RecordMirror } from './mirror.js';
import type { InspectorStatus } from './status.js';
import type { InspectorSource } from './source.js';

export interface StreamOptions {
  /** Delay between flushes: the page gets at most one update message per period. */
  flushMs: number;
  /** Rows in the first snapshot message: a screenful, so the page draws it before the rest arrives. */
  firstChunk: number;
  /** Rows per later snapshot message. */
  snapshotChunk: number;
  /** Most recent events kept for the activity log between flushes. */
  recentEvents: number;
  keepAliveMs: number;
}

export const DEFAULT_STREAM_OPTIONS: StreamOptions = {
  flushMs: 100,
  firstChunk: 200,
  snapshotChunk: 10_000,
  recentEvents: 50,
  keepAliveMs: 15_000,
};

/** The next turn of the event loop, or, when the socket is full, the moment it drains or closes. */
function nextTurn(res: ServerResponse): Promise<void> {
  if (!res.writableNeedDrain) return new Promise((resolve) => setImmediate(resolve));
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

/**
 * One page's Server-Sent Events stream:
 * - `snapshot` messages: every record, in chunks (`first` resets the page's table, `last` ends the snapshot);
 * - `update` messages, at most one per flush period: coalesced row upserts and removals, the latest
 *   events, and the status when it changed.
 * A client whose socket is full is skipped until it drains; its pending rows keep coalescing by id.
 * Returns a function that ends the stream.
 */
export function openEventStream(
  source: InspectorSource,
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

  // The snapshot goes out a chunk per turn of the event loop, waiting for the socket to drain, so a
  // 100k-row page load neither stalls the manager nor piles megabytes into memory. Changes meanwhile
  // coalesce and are sent after the last chunk, so the page never applies an older row over a newer one.
  let snapshotDone = false;
  const rows = mirror.snapshot();
  const sendSnapshot = async () => {
    let start = 0;
    do {
      const size = start === 0 ? options.firstChunk : options.snapshotChunk;
      const last = start + size >= rows.length;
      send('snapshot', { rows: rows.slice(start, start + size), first: start === 0, last, total: rows.length });
      start += size;
      if (last || ended) break;
      await nextTurn(res);
    } while (!ended);
    snapshotDone = true;
  };
  // A failing source ends this page's stream; the page reconnects and starts from a new snapshot.
  subs.push(mirror.deltas$.subscribe({ next: (d) => coalescer.add(d), error: end, complete: end }));
  subs.push(
    source.events$.subscribe({
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
    if (!snapshotDone || res.writableNeedDrain) return;
    const records = coalescer.drain();
    const update: Record<string, unknown> = {};
    if (records) update.records = records;
    if (events.length) update.events = events.slice(-options.recentEvents);
    if (status) update.status = status;
    events = [];
    status = undefined;
    if (Object.keys(update).length) send('update', update);
  };
  void sendSnapshot();
  timers.push(setInterval(flush, options.flushMs));
  timers.push(setInterval(() => res.write(': keep-alive\n\n'), options.keepAliveMs));
  return end;
}
