import {
  EMPTY,
  Observable,
  catchError,
  concat,
  defer,
  finalize,
  from,
  interval,
  last,
  map,
  merge,
  mergeMap,
  of,
  share,
  switchMap,
  takeUntil,
  throwError,
} from 'rxjs';
import type { Usage } from '../snapshot/types.js';
import { WalkProbe } from './control-block.js';
import { SizeError, SizeItemError } from './errors.js';
import { ConcurrencyGate } from './gate.js';
import { assertWalkablePath, defaultSizePool, type SizeWorkerPool } from './pool.js';
import { sizeOf$ } from './size-stream.js';

/** Where an item lives: a path, or a function resolving it when the walk starts. */
export type PathSource = string | (() => string | Promise<string>);

/** Something that measures itself, such as a snapshotter's `usage(key, { signal })`; aborted when no one waits. */
export interface Measured {
  measure(signal: AbortSignal): Promise<Usage>;
}

export type UsageSource = PathSource | Measured;

export interface SizeItem {
  key: string;
  path: UsageSource;
}

const isMeasured = (source: unknown): source is Measured =>
  typeof source === 'object' && source !== null && typeof (source as Measured).measure === 'function';

export interface SizeServiceOptions {
  /** Most walks in flight (running or posted to a worker) across all callers. Default: pool size × pipeline depth. */
  concurrency?: number;
  pool?: SizeWorkerPool;
}

export interface SizeServiceStats {
  /** Walks actually started (shared callers count once). */
  walksStarted: number;
  active: number;
  waiting: number;
  /** Keys with a walk queued or running. */
  inFlight: number;
}

export interface SizeManyOptions {
  /** Fail the whole stream on the first item failure instead of reporting it. Default false. */
  strict?: boolean;
  /** Also emit progress every this many ms, including bytes counted so far by walks still running. */
  progressIntervalMs?: number;
}

export interface SizeProgress {
  done: number;
  failed: number;
  total: number;
  /** Bytes of finished items, plus bytes counted so far by running walks in interval ticks. */
  bytes: number;
  inodes: number;
}

export interface SizeResultEvent {
  type: 'result';
  key: string;
  usage: Usage;
  /** Set when the item could not be sized; usage is then zero. */
  error?: unknown;
  progress: SizeProgress;
}

export interface SizeProgressEvent {
  type: 'progress';
  progress: SizeProgress;
}

export type SizeEvent = SizeResultEvent | SizeProgressEvent;

interface InFlight {
  usage$: Observable<Usage>;
  probe: WalkProbe | undefined;
}

const ZERO: Usage = Object.freeze({ size: 0, inodes: 0 });

function assertKey(key: unknown): asserts key is string {
  if (typeof key !== 'string' || key.length === 0) {
    throw new SizeError('INVALID_KEY', `size key must be a non-empty string, got ${JSON.stringify(key)}`);
  }
}

function assertPathSource(key: string, path: unknown): asserts path is UsageSource {
  if (typeof path === 'function' || isMeasured(path)) return;
  try {
    assertWalkablePath(path);
  } catch (error) {
    throw new SizeError('INVALID_PATH', `item ${JSON.stringify(key)}: ${(error as Error).message}`);
  }
}

/**
 * Sizes keyed trees with bounded concurrency, sharing one walk between
 * concurrent callers of the same key. A shared walk is cancelled only when its
 * last subscriber leaves. Nothing is cached: once a walk finishes, the next
 * request for the key walks again.
 */
export class SizeService {
  private readonly pool: SizeWorkerPool;
  private readonly gate: ConcurrencyGate;
  private readonly inFlight = new Map<string, InFlight>();
  private walksStarted = 0;

  constructor(options: SizeServiceOptions = {}) {
    this.pool = options.pool ?? defaultSizePool();
    this.gate = new ConcurrencyGate(options.concurrency ?? this.pool.size * this.pool.pipelineDepth);
  }

  stats(): SizeServiceStats {
    const gate = this.gate.stats();
    return {
      walksStarted: this.walksStarted,
      active: gate.active,
      waiting: gate.waiting,
      inFlight: this.inFlight.size,
    };
  }

  /** Instrumentation: the probe of the walk currently running for `key`, if any. */
  probeOf(key: string): WalkProbe | undefined {
    return this.inFlight.get(key)?.probe;
  }

  /** Usage of one keyed tree; joins a walk already in flight for `key`. Bad key or path errors on subscribe. */
  size$(key: string, path: UsageSource): Observable<Usage> {
    return defer(() => {
      assertKey(key);
      assertPathSource(key, path);
      return this.join(key, path).usage$;
    });
  }

  /** Promise form of size$. */
  size(key: string, path: UsageSource, options: { signal?: AbortSignal } = {}): Promise<Usage> {
    return new Promise<Usage>((resolve, reject) => {
      const { signal } = options;
      if (signal?.aborted) return reject(signal.reason);
      const onAbort = (): void => {
        subscription.unsubscribe();
        reject(signal?.reason);
      };
      const subscription = this.size$(key, path).subscribe({
        next: resolve,
        error: (error: unknown) => {
          signal?.removeEventListener('abort', onAbort);
          reject(error);
        },
        complete: () => signal?.removeEventListener('abort', onAbort),
      });
      if (!subscription.closed) signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * Sizes many items concurrently (within the service's bound) and emits each
   * result as it finishes, each followed by progress. Tolerant by default: an
   * item that cannot be sized (vanished, EACCES, path function threw) yields
   * zero usage with `error`. With `strict`, the first failure errors the stream
   * with a SizeItemError. Invalid keys or paths fail the stream before any walk.
   */
  sizeMany$(items: Iterable<SizeItem>, options: SizeManyOptions = {}): Observable<SizeEvent> {
    return defer(() => {
      const list = [...items];
      for (const item of list) {
        assertKey(item?.key);
        assertPathSource(item.key, item.path);
      }
      const interval$ = options.progressIntervalMs;
      if (interval$ !== undefined && !(Number.isFinite(interval$) && interval$ > 0)) {
        throw new SizeError('INVALID_OPTION', `progressIntervalMs must be a positive number, got ${String(interval$)}`);
      }
      const progress: SizeProgress = { done: 0, failed: 0, total: list.length, bytes: 0, inodes: 0 };
      // Keys of this batch with a walk in flight; a key listed twice in the batch shares one walk.
      const running = new Map<string, number>();
      const snapshot = (): SizeProgress => ({ ...progress });

      const results$ = from(list).pipe(
        mergeMap(
          (item) =>
            defer(() => {
              running.set(item.key, (running.get(item.key) ?? 0) + 1);
              return this.size$(item.key, item.path);
            }).pipe(
              map((usage): SizeResultEvent => {
                progress.bytes += usage.size;
                progress.inodes += usage.inodes;
                progress.done += 1;
                return { type: 'result', key: item.key, usage, progress: snapshot() };
              }),
              catchError((error: unknown) => {
                if (options.strict) return throwError(() => new SizeItemError(item.key, error));
                progress.done += 1;
                progress.failed += 1;
                return of<SizeResultEvent>({ type: 'result', key: item.key, usage: ZERO, error, progress: snapshot() });
              }),
              finalize(() => {
                const left = (running.get(item.key) ?? 1) - 1;
                if (left > 0) running.set(item.key, left);
                else running.delete(item.key);
              }),
            ),
          // Only as many items subscribed as can run: subscribing a whole large batch at once blocks the loop.
          this.gate.limit,
        ),
        mergeMap((event) => from<SizeEvent[]>([event, { type: 'progress', progress: event.progress }])),
        share(),
      );

      const ticks$: Observable<SizeEvent> =
        interval$ === undefined
          ? EMPTY
          : interval(interval$).pipe(
              map((): SizeEvent => {
                let partialBytes = 0;
                let partialInodes = 0;
                for (const key of running.keys()) {
                  const probe = this.inFlight.get(key)?.probe?.snapshot();
                  partialBytes += probe?.bytesSoFar ?? 0;
                  partialInodes += probe?.inodesSoFar ?? 0;
                }
                const now = snapshot();
                return {
                  type: 'progress',
                  progress: { ...now, bytes: now.bytes + partialBytes, inodes: now.inodes + partialInodes },
                };
              }),
              takeUntil(results$.pipe(last(null, null))),
            );

      return concat(of<SizeEvent>({ type: 'progress', progress: snapshot() }), merge(results$, ticks$));
    });
  }

  private join(key: string, path: UsageSource): InFlight {
    const existing = this.inFlight.get(key);
    if (existing !== undefined) return existing;
    const walk$ = isMeasured(path)
      ? measured$(path, () => (this.walksStarted += 1))
      : this.walkPath$(path, () => entry);
    const entry: InFlight = {
      probe: undefined,
      usage$: this.gate
        .run$(() => walk$)
        .pipe(
          finalize(() => {
            if (this.inFlight.get(key) === entry) this.inFlight.delete(key);
          }),
          share(),
        ),
    };
    this.inFlight.set(key, entry);
    return entry;
  }

  private walkPath$(path: PathSource, entryOf: () => InFlight): Observable<Usage> {
    return defer(async () => {
      const resolved = typeof path === 'function' ? await path() : path;
      assertWalkablePath(resolved);
      return resolved;
    }).pipe(
      switchMap((resolved) => {
        this.walksStarted += 1;
        // A fresh probe per walk: a control block that saw an abort must never be reused.
        const probe = new WalkProbe();
        entryOf().probe = probe;
        return sizeOf$(resolved, { pool: this.pool, probe });
      }),
    );
  }
}

/** A self-measuring source as a cold observable: unsubscribing aborts its signal. */
function measured$(source: Measured, started: () => void): Observable<Usage> {
  return new Observable<Usage>((subscriber) => {
    const controller = new AbortController();
    started();
    // Results are handed over in a later turn: sources that answer from a cache resolve at once, and a
    // batch of them chained through microtasks alone would keep the event loop from anything else.
    let handOver: NodeJS.Immediate | undefined;
    source.measure(controller.signal).then(
      (usage) => {
        handOver = setImmediate(() => {
          subscriber.next(usage);
          subscriber.complete();
        });
      },
      (error: unknown) => (handOver = setImmediate(() => subscriber.error(error))),
    );
    return () => {
      clearImmediate(handOver);
      controller.abort();
    };
  });
}
