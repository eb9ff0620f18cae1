import { firstValueFrom, type Observable } from 'rxjs';
import type { DiskUsageOptions } from '../disk-usage.js';
import { isCacheError } from '../errors.js';
import type { CacheEvent } from '../events.js';
import type { RecordsDelta, RecordView } from '../observe.js';
import type { TransitionReport } from '../records/record-index.js';
import type { UsageInfo } from '../usage.js';
import type { Reply } from './connection.js';
import {
  CONTROL_LIMITS,
  type ControlErrorCode,
  type ControlRequest,
  ControlRequestSchema,
  type RequestSeq,
} from './protocol.js';

/** What the control socket reads from the owner's manager: its public, read-only calls. */
export interface ControlSource {
  readonly root: string;
  readonly events$: Observable<CacheEvent>;
  status(): object;
  describe(id: string): RecordView;
  records$(options: { filter?: string[] }): Observable<RecordsDelta>;
  diskUsage$(options: DiskUsageOptions): Observable<UsageInfo>;
  history(id: string): TransitionReport[];
}

/** How often a diskUsage request reports progress at most. */
const PROGRESS_EVERY_MS = 200;
/** Deltas a watcher may have waiting while its first snapshot is still being read. */
const MAX_WAITING_DELTAS = 10_000;

const quote = (text: string) => JSON.stringify(text.length > 80 ? `${text.slice(0, 77)}...` : text);

/** The first problem zod found, short enough for one line. */
function whyInvalid(value: unknown): string {
  const type = typeof value === 'object' && value !== null ? (value as { type?: unknown }).type : undefined;
  if (typeof type !== 'string') return 'a request is an object with a string "type"';
  if (!ControlRequestSchema.options.some((o) => o.shape.type.value === type))
    return `unknown request type ${quote(type)}`;
  const issue = ControlRequestSchema.safeParse(value).error?.issues[0];
  return `request ${quote(type)}: ${issue ? `${issue.path.join('.') || 'request'}: ${issue.message}` : 'invalid'}`;
}

/** The code and message a failure is reported with; only the manager's own errors keep their code. */
function failure(err: unknown): { code: ControlErrorCode; message: string } {
  if (isCacheError(err)) return { code: err.code, message: err.message };
  return { code: 'INTERNAL', message: err instanceof Error ? err.message : String(err) };
}

/** Sends `items` in chunks, waiting for the client to read each, then `end`. */
async function sendList(reply: Reply, seq: RequestSeq, items: readonly unknown[]): Promise<void> {
  const at = seq === undefined ? {} : { seq };
  for (let i = 0; i < items.length && !reply.closed; i += CONTROL_LIMITS.chunkSize) {
    if (!reply.send({ type: 'chunk', ...at, items: items.slice(i, i + CONTROL_LIMITS.chunkSize) }))
      await reply.drained();
  }
  reply.send({ type: 'end', ...at, count: items.length });
}

/** Collects a stream, ending it early when the client goes away. */
function collect<T>(reply: Reply, source: Observable<T>): Promise<T[]> {
  return new Promise<T[]>((resolve, reject) => {
    const items: T[] = [];
    const sub = source.subscribe({ next: (v) => items.push(v), error: reject, complete: () => resolve(items) });
    reply.onClose(() => {
      sub.unsubscribe();
      resolve(items);
    });
  });
}

/**
 * Answers one request line. Every request only reads; a bad one is answered with an error and changes nothing.
 */
export async function handleLine(source: ControlSource, line: string, reply: Reply): Promise<void> {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return reply.fail(undefined, 'BAD_REQUEST', 'a request line is not JSON');
  }
  const parsed = ControlRequestSchema.safeParse(value);
  if (!parsed.success) {
    const seq = (value as { seq?: unknown } | null)?.seq;
    const echo = typeof seq === 'number' || (typeof seq === 'string' && seq.length <= 64) ? seq : undefined;
    return reply.fail(echo, 'BAD_REQUEST', whyInvalid(value));
  }
  const request = parsed.data;
  try {
    await answer(source, request, reply);
  } catch (err) {
    const { code, message } = failure(err);
    reply.fail(request.seq, code, message);
  }
}

async function answer(source: ControlSource, request: ControlRequest, reply: Reply): Promise<void> {
  const at = request.seq === undefined ? {} : { seq: request.seq };
  switch (request.type) {
    case 'status':
      return void reply.send({ type: 'result', ...at, value: source.status() });
    case 'describe':
      return void reply.send({ type: 'result', ...at, value: source.describe(request.id) });
    case 'history':
      return void reply.send({ type: 'result', ...at, value: source.history(request.id) });
    case 'records': {
      const first = await firstValueFrom(
        source.records$(request.filter === undefined ? {} : { filter: request.filter }),
      );
      return sendList(reply, request.seq, first.type === 'snapshot' ? first.records : []);
    }
    case 'diskUsage': {
      let lastProgress = 0;
      const rows = await collect(
        reply,
        source.diskUsage$({
          ...(request.filter === undefined ? {} : { filter: request.filter }),
          ...(request.ageLimit === undefined ? {} : { ageLimit: request.ageLimit }),
          onProgress: (p) => {
            const now = Date.now();
            if (now - lastProgress < PROGRESS_EVERY_MS || reply.unsent > 0) return;
            lastProgress = now;
            reply.send({ type: 'progress', ...at, ...p });
          },
        }),
      );
      return sendList(reply, request.seq, rows);
    }
    case 'watch':
      return watch(source, request.seq, reply);
  }
}

/**
 * Streams the owner's live view until the client disconnects: the records now (in chunks), then every upsert,
 * removal and transition. A client that stops reading is cut off; it never slows the owner.
 */
async function watch(source: ControlSource, seq: RequestSeq, reply: Reply): Promise<void> {
  reply.keepOpen();
  const at = seq === undefined ? {} : { seq };
  let snapshot: RecordView[] | undefined;
  let waiting: object[] | undefined = [];
  const deliver = (delta: object) => {
    if (reply.closed) return;
    if (waiting) {
      waiting.push(delta);
      if (waiting.length > MAX_WAITING_DELTAS) overflow();
      return;
    }
    reply.send({ type: 'delta', ...at, delta });
    if (reply.unsent > CONTROL_LIMITS.maxUnsentBytes) overflow();
  };
  const overflow = () => {
    waiting = undefined;
    reply.refuse('OVERFLOW', `the watcher left more than ${CONTROL_LIMITS.maxUnsentBytes} bytes unread`);
  };
  const records = source.records$({}).subscribe({
    next: (delta) => {
      if (delta.type === 'snapshot') snapshot = delta.records;
      else deliver(delta);
    },
    // A closing manager completes records$; the server closes the connection itself.
    error: (err: unknown) => reply.refuse(failure(err).code, failure(err).message),
  });
  const events = source.events$.subscribe((event) => {
    if (event.type === 'record.transition') {
      const { type: _, ...transition } = event;
      deliver({ type: 'transition', transition });
    } else if (event.type === 'events.dropped') deliver({ type: 'dropped', count: event.count });
  });
  reply.onClose(() => {
    records.unsubscribe();
    events.unsubscribe();
  });
  const all = snapshot ?? [];
  for (let i = 0; i === 0 || i < all.length; i += CONTROL_LIMITS.chunkSize) {
    if (reply.closed) return;
    const records = all.slice(i, i + CONTROL_LIMITS.chunkSize);
    const last = i + CONTROL_LIMITS.chunkSize >= all.length;
    if (!reply.send({ type: 'delta', ...at, delta: { type: 'snapshot', records, last } })) await reply.drained();
  }
  const queued = waiting ?? [];
  waiting = undefined;
  for (const delta of queued) deliver(delta);
}
