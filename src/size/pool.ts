import { availableParallelism } from 'node:os';
import { isAbsolute } from 'node:path';
import type { Worker } from 'node:worker_threads';
import type { Usage } from '../snapshot/types.js';
import { ControlBlock, type WalkProbe } from './control-block.js';
import { SizeError, fromWalkFailure } from './errors.js';
import { fanOutUsage } from './fan-out.js';
import type { WalkReply, WalkRequest, WalkResult } from './walk-protocol.js';
import type { WalkOptions } from './walk-sync.js';
import { startWorker } from './worker-script.js';

export interface SizePoolOptions {
  /** Worker threads, each walking one tree at a time. Default: available parallelism. */
  size?: number;
  /**
   * How long an aborted walk may take to acknowledge before its worker is
   * terminated and replaced (a single filesystem call can hang, e.g. on a dead
   * network mount). Default 50 ms.
   */
  abortGraceMs?: number;
  /**
   * Jobs posted to one worker at a time: the running walk plus ones waiting
   * behind it inside the worker. Default 2. Each worker still walks one tree at a time.
   */
  pipelineDepth?: number;
}

export interface SizeJobOptions {
  signal?: AbortSignal;
  /** Debug/benchmark hook observing the walk's filesystem calls. A probed walk is never fanned out. */
  probe?: WalkProbe;
  /**
   * When workers would otherwise idle (nothing queued, a worker free), split the tree's top-level
   * subdirectories into separate jobs across the pool; the sizes equal a single walk's. Default false.
   */
  fanOut?: boolean;
}

export interface SizePoolStats {
  size: number;
  workers: number;
  /** Workers with at least one job. */
  busy: number;
  /** Jobs waiting in the pool, not yet posted to a worker. */
  queued: number;
  /** Jobs posted to a worker since the pool was created. */
  started: number;
}

/** Fan-out pieces per worker: enough for a worker that drew small directories to pick up another. */
const PIECES_PER_WORKER = 4;

interface Job {
  id: number;
  /** The tree the caller asked for, named in errors. */
  root: string;
  paths: string[];
  options: WalkOptions;
  control: ControlBlock;
  resolve: (result: WalkResult) => void;
  reject: (error: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: () => void;
  graceTimer: NodeJS.Timeout | undefined;
  settled: boolean;
}

interface Slot {
  worker: Worker;
  ready: Promise<void>;
  /** Jobs posted to this worker, in the order it runs them; the first is running. */
  jobs: Job[];
}

function positiveInteger(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1) {
    throw new SizeError('INVALID_OPTION', `${name} must be a positive integer, got ${String(value)}`);
  }
  return value;
}

/** Rejects paths a walk cannot meaningfully start from; the message names the path and the reason. */
export function assertWalkablePath(path: unknown): asserts path is string {
  if (typeof path !== 'string' || path.length === 0) {
    throw new SizeError('INVALID_PATH', `path to size must be a non-empty string, got ${JSON.stringify(path)}`);
  }
  if (path.includes('\0'))
    throw new SizeError('INVALID_PATH', `path to size ${JSON.stringify(path)} contains a NUL byte`);
  if (!isAbsolute(path)) throw new SizeError('INVALID_PATH', `path to size ${JSON.stringify(path)} is not absolute`);
}

/**
 * A bounded set of worker threads that size trees. The calling thread only
 * posts messages and never blocks; aborting a job flips a shared flag that the
 * walker polls before each filesystem call.
 */
export class SizeWorkerPool {
  readonly size: number;
  private readonly abortGraceMs: number;
  readonly pipelineDepth: number;
  private readonly slots: Slot[] = [];
  private readonly queue: Job[] = [];
  private nextId = 1;
  private started = 0;
  private closed = false;

  constructor(options: SizePoolOptions = {}) {
    this.size = positiveInteger(options.size, availableParallelism(), 'size pool size');
    if (options.abortGraceMs !== undefined && !(options.abortGraceMs >= 0 && Number.isFinite(options.abortGraceMs))) {
      throw new SizeError(
        'INVALID_OPTION',
        `abortGraceMs must be a finite number >= 0, got ${String(options.abortGraceMs)}`,
      );
    }
    this.abortGraceMs = options.abortGraceMs ?? 50;
    this.pipelineDepth = positiveInteger(options.pipelineDepth, 2, 'pipelineDepth');
  }

  /** Sizes the tree at `path` (du -s -B1 / --inodes semantics). Rejects with the signal's reason on abort. */
  run(path: string, options: SizeJobOptions = {}): Promise<Usage> {
    try {
      assertWalkablePath(path);
    } catch (error) {
      return Promise.reject(error);
    }
    const { signal, probe } = options;
    if (options.fanOut === true && probe === undefined && !this.closed && this.hasIdleWorker()) {
      const piece = (paths: string[], walkOptions: WalkOptions, pieceSignal: AbortSignal) =>
        this.walk(path, paths, walkOptions, pieceSignal, undefined);
      return fanOutUsage(piece, path, this.size * PIECES_PER_WORKER, signal);
    }
    return this.walk(path, [path], {}, signal, probe).then((result) => result.usage);
  }

  /** True when a job posted now would start at once on a worker that has nothing else to do. */
  private hasIdleWorker(): boolean {
    if (this.size < 2 || this.queue.length > 0) return false;
    return this.slots.length < this.size || this.slots.some((s) => s.jobs.length === 0);
  }

  /** Queues one walk request of `paths` (summed together); `root` is the caller's tree, named in errors. */
  private walk(
    root: string,
    paths: string[],
    walkOptions: WalkOptions,
    signal: AbortSignal | undefined,
    probe: WalkProbe | undefined,
  ): Promise<WalkResult> {
    if (this.closed)
      return Promise.reject(
        new SizeError('POOL_CLOSED', `cannot size ${JSON.stringify(root)}: the size pool is closed`),
      );
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<WalkResult>((resolve, reject) => {
      const job: Job = {
        id: this.nextId++,
        root,
        paths,
        options: walkOptions,
        control: probe?.control ?? new ControlBlock(),
        resolve,
        reject,
        signal,
        onAbort: () => this.abortJob(job),
        graceTimer: undefined,
        settled: false,
      };
      signal?.addEventListener('abort', job.onAbort, { once: true });
      this.queue.push(job);
      this.dispatch();
    });
  }

  stats(): SizePoolStats {
    return {
      size: this.size,
      workers: this.slots.length,
      busy: this.slots.filter((s) => s.jobs.length > 0).length,
      queued: this.queue.length,
      started: this.started,
    };
  }

  /** Starts every worker now and waits until each has loaded, so first walks pay no start-up cost. */
  async warm(): Promise<void> {
    while (!this.closed && this.slots.length < this.size) this.spawn();
    const slots = [...this.slots];
    // An unref'd worker would let the process exit while we wait for it.
    for (const s of slots) s.worker.ref();
    await Promise.all(slots.map((s) => s.ready));
    for (const s of slots) if (s.jobs.length === 0) s.worker.unref();
  }

  /** Terminates every worker; queued and running jobs reject with POOL_CLOSED. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const error = () => new SizeError('POOL_CLOSED', 'the size pool was closed while the walk was pending');
    const slots = this.slots.splice(0);
    const pending = [...this.queue.splice(0), ...slots.flatMap((s) => s.jobs.splice(0))];
    for (const job of pending) {
      job.control.requestAbort();
      this.settle(job, () => job.reject(error()));
    }
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }

  private spawn(): Slot {
    const worker = startWorker(import.meta.url, 'walk-worker');
    worker.unref();
    let markReady: () => void = () => {};
    let failStart: (error: unknown) => void = () => {};
    const ready = new Promise<void>((resolve, reject) => {
      markReady = resolve;
      failStart = reject;
    });
    ready.catch(() => {}); // observed through warm() or the job's own rejection
    const slot: Slot = { worker, ready, jobs: [] };
    worker.on('message', (reply: WalkReply) => {
      if (reply.kind === 'ready') return markReady();
      this.onReply(slot, reply);
    });
    const gone = (cause: unknown): void => {
      failStart(new SizeError('WORKER_FAILED', `a size worker failed to start or died: ${String(cause)}`, { cause }));
      this.onWorkerGone(slot, cause);
    };
    worker.on('error', gone);
    worker.on('exit', (code) => gone(new Error(`worker exited with code ${code}`)));
    this.slots.push(slot);
    return slot;
  }

  /**
   * Hands queued jobs to workers: idle workers first, then new workers up to
   * the pool size, then a second job behind a running one. That queued-up job
   * starts the moment the first finishes, without waiting for this thread to
   * answer the reply, which matters when the main thread is slow to schedule.
   */
  private dispatch(): void {
    while (!this.closed && this.queue.length > 0) {
      let slot = this.slots.find((s) => s.jobs.length === 0);
      if (slot === undefined && this.slots.length < this.size) slot = this.spawn();
      slot ??= this.slots.find((s) => s.jobs.length < this.pipelineDepth);
      if (slot === undefined) return;
      const job = this.queue.shift()!;
      slot.jobs.push(job);
      this.started += 1;
      slot.worker.ref();
      const request: WalkRequest = { id: job.id, paths: job.paths, control: job.control.buffer, options: job.options };
      slot.worker.postMessage(request);
    }
  }

  private abortJob(job: Job): void {
    const queued = this.queue.indexOf(job);
    if (queued >= 0) {
      this.queue.splice(queued, 1);
      this.settle(job, () => job.reject(job.signal?.reason));
      return;
    }
    const slot = this.slots.find((s) => s.jobs.includes(job));
    if (slot === undefined) return;
    job.control.requestAbort();
    if (slot.jobs[0] !== job) {
      // Not started yet: the worker checks the flag before its first call and will only acknowledge.
      this.settle(job, () => job.reject(job.signal?.reason));
      return;
    }
    // The walker acknowledges within one filesystem call; if that call hangs, replace the worker.
    job.graceTimer = setTimeout(() => {
      if (slot.jobs[0] !== job || !this.retire(slot)) return;
      void slot.worker.terminate();
      const [, ...waiting] = slot.jobs.splice(0);
      this.settle(job, () => job.reject(job.signal?.reason));
      this.queue.unshift(...waiting.filter((j) => !j.settled));
      this.dispatch();
    }, this.abortGraceMs);
  }

  private onReply(slot: Slot, reply: Exclude<WalkReply, { kind: 'ready' }>): void {
    const index = slot.jobs.findIndex((j) => j.id === reply.id);
    if (index < 0) return;
    const [job] = slot.jobs.splice(index, 1) as [Job];
    if (slot.jobs.length === 0) slot.worker.unref();
    if (reply.kind === 'done') this.settle(job, () => job.resolve(reply.result));
    else if (reply.kind === 'failed') this.settle(job, () => job.reject(fromWalkFailure(reply.failure, job.root)));
    else this.settle(job, () => job.reject(job.signal?.reason));
    this.dispatch();
  }

  private onWorkerGone(slot: Slot, cause: unknown): void {
    if (!this.retire(slot)) return;
    const [head, ...waiting] = slot.jobs.splice(0);
    if (head !== undefined) {
      const error = new SizeError('WORKER_FAILED', `the worker sizing ${JSON.stringify(head.root)} died`, { cause });
      this.settle(head, () => head.reject(error));
    }
    // Jobs queued behind it never started; give them to another worker.
    this.queue.unshift(...waiting.filter((j) => !j.settled));
    this.dispatch();
  }

  /** Removes a slot from the pool; false if it was already gone. */
  private retire(slot: Slot): boolean {
    const index = this.slots.indexOf(slot);
    if (index < 0) return false;
    this.slots.splice(index, 1);
    return true;
  }

  private settle(job: Job, finish: () => void): void {
    if (job.settled) return;
    job.settled = true;
    job.signal?.removeEventListener('abort', job.onAbort);
    if (job.graceTimer !== undefined) clearTimeout(job.graceTimer);
    finish();
  }
}

let shared: SizeWorkerPool | undefined;

/** The process-wide pool used when callers do not bring their own (workers are unref'd while idle). */
export function defaultSizePool(): SizeWorkerPool {
  shared ??= new SizeWorkerPool();
  return shared;
}
