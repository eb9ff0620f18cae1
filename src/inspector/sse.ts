import type { ServerResponse } from 'node:http';
import type { Observable, Subscription } from 'rxjs';
import type { CacheEvent } from '../cache/events.js';
import { DeltaCoalescer } from './coalescer.js';
import type { RecordMirror } from './mirror.js';
import type { InspectorStatus } from './status.js';
import type { InspectorSource } from './source.js';
import type { RecordRow } from './rows.js';
import { DEFAULT_INSPECTOR_LIMITS, type InspectorLimits } from './limits.js';

export interface StreamOptions {
  /** Delay between flushes: the page gets at most one round of update messages per period. */
  flushMs: number;
  /** Rows in the first snapshot message: a screenful, so the page draws it before the rest arrives. */
  firstChunk: number;
  /** Bytes of JSON per message; a single row larger than this goes alone. */
  chunkBytes: number;
  /** Most recent events kept for the activity log between flushes. */
  recentEvents: number;
  keepAliveMs: number;
  /** Unsent bytes queued for the client beyond which it is dropped. */
  maxUnsentBytes: number;
  /** Time a full socket may take to drain before the client is dropped. */
  stallMs: number;
}

export const DEFAULT_STREAM_OPTIONS: StreamOptions = {
  flushMs: 100,
  firstChunk: 200,
  chunkBytes: DEFAULT_INSPECTOR_LIMITS.chunkBytes,
  recentEvents: 50,
  keepAliveMs: 15_000,
  maxUnsentBytes: DEFAULT_INSPECTOR_LIMITS.maxUnsentBytes,
  stallMs: DEFAULT_INSPECTOR_LIMITS.stallMs,
};

/** The stream options a server's limits give. */
export function streamOptions(limits: InspectorLimits): StreamOptions {
  const { chunkBytes, maxUnsentBytes, stallMs } = limits;
  return { ...DEFAULT_STREAM_OPTIONS, chunkBytes, maxUnsentBytes, stallMs };
}

/**
 * The data of each snapshot message: the rows cut by their size in bytes, not by their number, since
 * one row holds up to 4096 characters of description and a count of rows says nothing about memory.
 */
export function* snapshotChunks(rows: readonly RecordRow[], firstRows: number, chunkBytes: number): Generator<string> {
  const total = rows.length;
  let next = 0;
  let first = true;
  do {
    const parts: string[] = [];
    let bytes = 0;
    while (next < total && (!first || parts.length < firstRows)) {
      const json = JSON.stringify(rows[next]);
      const size = Buffer.byteLength(json) + 1;
      if (parts.length > 0 && bytes + size > chunkBytes) break;
      parts.push(json);
      bytes += size;
      next++;
    }
    yield `{"rows":[${parts.join(',')}],"first":${first},"last":${next >= total},"total":${total}}`;
    first = false;
  } while (next < total);
}

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
 * - `update` messages, a round per flush period: coalesced row upserts and removals, the latest
 *   events, and the status when it changed.
 * Everything waits for the socket to drain before more is written, so a slow client costs one chunk of
 * memory, plus one pending entry per changed record. A client that does not drain within `stallMs`, or
 * that has more than `maxUnsentBytes` queued, is dropped (`onDrop`); the page reconnects when it can.
 * Returns a function that ends the stream.
 */
export function openEventStream(
  source: InspectorSource,
  mirror: RecordMirror,
  status$: Observable<InspectorStatus>,
  res: ServerResponse,
  options: StreamOptions = DEFAULT_STREAM_OPTIONS,
  onDrop: (reason: string) => void = () => {},
): () => void {
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });

  const coalescer = new DeltaCoalescer();
  let events: CacheEvent[] = [];
  let status: InspectorStatus | undefined;
  const subs: Subscription[] = [];
  const timers: NodeJS.Timeout[] = [];
  let stallTimer: NodeJS.Timeout | undefined;
  let ended = false;
  /** Ends the stream: politely, or by destroying the socket when the client is not reading anyway. */
  const finish = (destroy: boolean) => {
    if (ended) return;
    ended = true;
    for (const t of timers) clearInterval(t);
    clearTimeout(stallTimer);
    for (const s of subs) s.unsubscribe();
    if (destroy) res.destroy();
    else res.end();
  };
  const end = () => finish(false);
  const drop = (reason: string) => {
    if (ended) return;
    onDrop(reason);
    finish(true);
  };
  // Our own failure (a throw while sending): this stream ends; the page reconnects to a fresh snapshot.
  const abort = () => finish(true);
  // The response's close, not the request's: a GET's request side is done as soon as it is read.
  res.on('close', end);

  // Every write goes through here. writableLength counts this message too (the response corks its socket
  // until the next tick), so the budget holds for what is queued at any moment; with the default limits,
  // waiting for drain keeps that to about one message, and the stall deadline is what drops a client
  // that stopped reading.
  const write = (text: string) => {
    if (ended) return;
    res.write(text);
    if (res.writableLength > options.maxUnsentBytes) return drop(`more than ${options.maxUnsentBytes} bytes unsent`);
    if (res.writableNeedDrain && stallTimer === undefined) {
      stallTimer = setTimeout(() => drop(`socket not drained within ${options.stallMs} ms`), options.stallMs);
      stallTimer.unref();
      res.once('drain', () => {
        clearTimeout(stallTimer);
        stallTimer = undefined;
      });
    }
  };
  const send = (event: string, data: unknown) => write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  write('retry: 2000\n\n');

  // The snapshot goes out a chunk per turn of the event loop, waiting for the socket to drain, so a
  // 100k-row page load neither stalls the manager nor piles megabytes into memory. Changes meanwhile
  // coalesce and are sent after the last chunk, so the page never applies an older row over a newer one.
  let snapshotDone = false;
  const rows = mirror.snapshot();
  const sendSnapshot = async () => {
    for (const data of snapshotChunks(rows, options.firstChunk, options.chunkBytes)) {
      if (ended) return;
      write(`event: snapshot\ndata: ${data}\n\n`);
      await nextTurn(res);
    }
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

  /** One round of updates: events and status once, then the changed rows a chunk per turn. */
  const sendUpdates = async () => {
    let update: Record<string, unknown> = {};
    if (events.length) update.events = events.slice(-options.recentEvents);
    if (status) update.status = status;
    events = [];
    status = undefined;
    for (;;) {
      const records = coalescer.drain(options.chunkBytes);
      if (records) update.records = records;
      if (Object.keys(update).length === 0 || ended) return;
      send('update', update);
      if (coalescer.size === 0) return;
      update = {};
      await nextTurn(res);
    }
  };
  let sending = false;
  const flush = () => {
    if (!snapshotDone || sending || ended || res.writableNeedDrain) return;
    sending = true;
    sendUpdates()
      .catch(abort)
      .finally(() => (sending = false));
  };
  /** A timer's callback, inside the stream's own error boundary: timers run outside any request handler. */
  const guarded = (fn: () => void) => () => {
    try {
      fn();
    } catch {
      abort();
    }
  };
  sendSnapshot().catch(abort);
  timers.push(setInterval(guarded(flush), options.flushMs));
  // A full socket needs no keep-alive: the stall timer is already watching it.
  timers.push(
    setInterval(
      guarded(() => res.writableNeedDrain || write(': keep-alive\n\n')),
      options.keepAliveMs,
    ),
  );
  return end;
}
