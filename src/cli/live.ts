import type { DiskUsageOptions } from '../cache/disk-usage.js';
import type { CacheManager } from '../cache/manager.js';
import type { RecordsDelta, RecordView } from '../cache/observe.js';
import type { TransitionReport } from '../cache/records/record-index.js';
import type { UsageInfo } from '../cache/usage.js';
import { type ControlClient, ControlError } from '../cache/control/client.js';
import {
  WireRecordViewSchema,
  WireStatusSchema,
  WireTransitionSchema,
  WireUsageInfoSchema,
} from '../cache/control/protocol.js';
import { CacheError } from '../cache/errors.js';
import { quoted, terminalText } from './escape.js';

/**
 * Where `du`, `inspect` and `watch` read a cache from: the owner's control socket when an owner serves one (refs,
 * held states, transitions: what only the owner knows), else the stored metadata through a read-only manager
 * (stored states only: nothing shows as held or in use).
 */
export type SourceName = 'owner' | 'metadata';

export const SOURCE_LABEL: Record<SourceName, string> = {
  owner: 'owner (live)',
  metadata: 'metadata (stored states only)',
};

/** How long a command waits for an owner to answer before it reads the metadata instead. */
const CONNECT_TIMEOUT_MS = 1000;

/** The root's summary as `inspect` shows it: the owner's (or the read-only manager's) cm.status(). */
export type StatusView = Record<string, unknown> & { records: number; states: Record<string, number> };

/** The data `du` and `inspect` read, from whichever source answered. */
export interface CacheReader {
  readonly source: SourceName;
  /** Why the owner was not asked, when the source is the metadata. */
  readonly fallbackReason: string | undefined;
  status(): Promise<StatusView>;
  describe(id: string): Promise<RecordView>;
  /** Ids of the records whose parent is `id`. */
  childIds(id: string): Promise<string[]>;
  /** The owner's last transitions of the record; undefined when only the metadata was read. */
  history(id: string): Promise<TransitionReport[] | undefined>;
  diskUsage(options: Omit<DiskUsageOptions, 'signal' | 'strict'>): Promise<UsageInfo[]>;
  close(): Promise<void>;
}

/** `source: owner (live)`, or the metadata with the reason the owner was not asked. */
export function sourceLine(source: SourceName, reason: string | undefined): string {
  return `source: ${SOURCE_LABEL[source]}${source === 'metadata' && reason ? ` (${terminalText(reason)})` : ''}`;
}

/** Connects to the owner of `root`, or says why not. */
async function connectOwner(root: string): Promise<ControlClient | string> {
  const { ControlClient } = await import('../cache/control/client.js');
  try {
    return await ControlClient.connect(root, { timeoutMs: CONNECT_TIMEOUT_MS });
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

async function openReadOnly(root: string): Promise<CacheManager> {
  const { openCacheManager } = await import('../cache/manager.js');
  return openCacheManager({ root, readOnly: true });
}

/** The owner's error as the CacheError the command reports (NOT_FOUND keeps its code). */
function asCacheError(err: unknown): unknown {
  return err instanceof ControlError ? (err.toCacheError() ?? err) : err;
}

/** Longest id the protocol carries; longer ones cannot name a record. */
const MAX_ID = 1024;

class OwnerReader implements CacheReader {
  readonly source = 'owner' as const;
  readonly fallbackReason = undefined;

  constructor(private readonly client: ControlClient) {}

  async status(): Promise<StatusView> {
    return (await this.ask(() => this.client.result({ type: 'status' }, WireStatusSchema))) as StatusView;
  }

  describe(id: string): Promise<RecordView> {
    if (id.length > MAX_ID) return Promise.reject(new CacheError('NOT_FOUND', `record ${quoted(id)} not found`));
    return this.ask(() => this.client.result({ type: 'describe', id }, WireRecordViewSchema));
  }

  async childIds(id: string): Promise<string[]> {
    const records = await this.ask(() =>
      this.client.list({ type: 'records', filter: [`parent==${JSON.stringify(id)}`] }, WireRecordViewSchema),
    );
    return records.map((r) => r.id);
  }

  history(id: string): Promise<TransitionReport[]> {
    return this.ask(() => this.client.result({ type: 'history', id }, WireTransitionSchema.array()));
  }

  diskUsage(options: Omit<DiskUsageOptions, 'signal' | 'strict'>): Promise<UsageInfo[]> {
    const request = {
      type: 'diskUsage' as const,
      ...(options.filter === undefined ? {} : { filter: options.filter }),
      ...(options.ageLimit === undefined ? {} : { ageLimit: options.ageLimit }),
    };
    return this.ask(() => this.client.list(request, WireUsageInfoSchema, options.onProgress));
  }

  async close(): Promise<void> {
    this.client.close();
  }

  private async ask<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (err) {
      throw asCacheError(err);
    }
  }
}

class StoredReader implements CacheReader {
  readonly source = 'metadata' as const;

  constructor(
    private readonly cm: CacheManager,
    readonly fallbackReason: string,
  ) {}

  async status(): Promise<StatusView> {
    return { ...this.cm.status() } as unknown as StatusView;
  }

  async describe(id: string): Promise<RecordView> {
    return this.cm.describe(id);
  }

  async childIds(id: string): Promise<string[]> {
    const { firstValueFrom } = await import('rxjs');
    const first = await firstValueFrom(this.cm.records$({ filter: (r) => r.parent === id }));
    return first.type === 'snapshot' ? first.records.map((r) => r.id) : [];
  }

  async history(): Promise<undefined> {
    return undefined;
  }

  async diskUsage(options: Omit<DiskUsageOptions, 'signal' | 'strict'>): Promise<UsageInfo[]> {
    return this.cm.diskUsage(options);
  }

  close(): Promise<void> {
    return this.cm.close();
  }
}

/**
 * Whether a call to the owner failed because the owner went away (it closed, or the connection broke): the
 * command then reads the metadata instead of failing.
 */
const ownerGone = (err: unknown) =>
  err instanceof ControlError && (err.code === 'UNAVAILABLE' || err.code === 'CLOSED' || err.code === 'PROTOCOL');

/**
 * A reader that asks the owner and, when it is gone before it answered, reads the metadata instead; `source`
 * says which one the last answer came from.
 */
class FallbackReader implements CacheReader {
  constructor(
    private current: CacheReader,
    private readonly root: string,
  ) {}

  get source(): SourceName {
    return this.current.source;
  }

  get fallbackReason(): string | undefined {
    return this.current.fallbackReason;
  }

  status() {
    return this.call((r) => r.status());
  }
  describe(id: string) {
    return this.call((r) => r.describe(id));
  }
  childIds(id: string) {
    return this.call((r) => r.childIds(id));
  }
  history(id: string) {
    return this.call((r) => r.history(id));
  }
  diskUsage(options: Omit<DiskUsageOptions, 'signal' | 'strict'>) {
    return this.call((r) => r.diskUsage(options));
  }
  close() {
    return this.current.close();
  }

  private async call<T>(fn: (reader: CacheReader) => Promise<T>): Promise<T> {
    try {
      return await fn(this.current);
    } catch (err) {
      if (this.current.source !== 'owner' || !ownerGone(err)) throw err;
      await this.current.close();
      this.current = new StoredReader(await openReadOnly(this.root), `the owner went away: ${(err as Error).message}`);
      return fn(this.current);
    }
  }
}

/** Asks the owner of `root` first; with none answering, a read-only manager over the stored metadata. */
export async function openReader(root: string): Promise<CacheReader> {
  const client = await connectOwner(root);
  if (typeof client !== 'string') return new FallbackReader(new OwnerReader(client), root);
  return new FallbackReader(new StoredReader(await openReadOnly(root), client), root);
}

/** What a watch reports, from whichever source it follows. */
export interface WatchSink {
  /** The source now followed; called first, and again when the owner goes away. */
  source(name: SourceName, reason: string | undefined): void;
  /** records$ deltas: a snapshot each time the source changes, then upserts and removals. */
  delta(delta: RecordsDelta): void;
  /** A transition the owner made (only from the owner). */
  transition(transition: TransitionReport): void;
  /** Transitions the owner could not deliver to this watcher. */
  dropped(count: number): void;
}

/**
 * Follows `root` until the returned function is called: through the owner's socket while it serves one, then
 * (or when there is none) by re-reading the stored metadata every `interval` ms.
 */
export async function watchCache(root: string, interval: number, sink: WatchSink): Promise<() => Promise<void>> {
  let stopped = false;
  let switching: Promise<void> | undefined;
  let stopCurrent: () => Promise<void> = async () => {};
  const followStored = async (reason: string) => {
    const cm = await openReadOnly(root);
    if (stopped) return void (await cm.close());
    sink.source('metadata', reason);
    const sub = cm.records$().subscribe((delta) => sink.delta(delta));
    const timer = setInterval(() => cm.refresh(), interval);
    stopCurrent = async () => {
      clearInterval(timer);
      sub.unsubscribe();
      await cm.close();
    };
  };
  const client = await connectOwner(root);
  if (typeof client === 'string') {
    await followStored(client);
  } else {
    sink.source('owner', undefined);
    let snapshot: RecordView[] = [];
    const stop = client.watch({
      delta: (d) => {
        if (d.type === 'snapshot') {
          snapshot.push(...d.records);
          if (d.last) {
            sink.delta({ type: 'snapshot', records: snapshot });
            snapshot = [];
          }
        } else if (d.type === 'transition') sink.transition(d.transition);
        else if (d.type === 'dropped') sink.dropped(d.count);
        else sink.delta(d);
      },
      end: (reason) => {
        if (!stopped) switching = followStored(`the owner went away: ${reason}`);
      },
    });
    stopCurrent = async () => stop();
  }
  return async () => {
    stopped = true;
    // A switch to the metadata under way finishes first (and, seeing `stopped`, closes what it opened).
    await switching;
    await stopCurrent();
  };
}
