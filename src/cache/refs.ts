import type { Usage } from '../snapshot/types.js';
import { CacheError } from './errors.js';

export interface MountOptions {
  readonly?: boolean;
}

/** A mounted view of a record's content; release it when done. */
export interface MountedRef {
  readonly path: string;
  release(): Promise<void>;
}

/** The metadata every ref shows of its record. */
export interface RecordMetadata {
  readonly description: string | undefined;
  readonly recordType: string;
  readonly createdAt: Date;
  readonly lastUsedAt: Date | undefined;
  readonly usageCount: number;
  readonly parent: string | undefined;
  /** The cache key the record was made (or imported) under. */
  readonly key: string | undefined;
}

/**
 * What refs need from the engine. The manager implements it privately: refs
 * never go through the manager's public methods, and every call here is an
 * operation the supervisor decides (and refuses on a read-only cache).
 */
export interface RefHost {
  metadataOf(id: string): RecordMetadata;
  mountRecord(id: string, options: MountOptions): Promise<MountedRef>;
  sizeOf(id: string, options: { signal?: AbortSignal }): Promise<Usage>;
  /** Downloads and applies a lazy record's chain; nothing when its content is here. */
  pull(id: string, options: { signal?: AbortSignal }): Promise<void>;
  release(id: string, mutable: boolean): Promise<void>;
  commit(id: string): Promise<void>;
  finalize(id: string): Promise<void>;
  clone(id: string): void;
  /** CLOSED once the manager is closed. */
  ensureOpen(op: string): void;
}

/** Each ref reaches its host through this map, so the host is not a public field of the ref. */
const hosts = new WeakMap<BaseRef, RefHost>();

/** The host a ref belongs to: how a manager tells its own refs from another manager's. */
export const hostOf = (ref: BaseRef): RefHost | undefined => hosts.get(ref);

abstract class BaseRef {
  /** Set once release or commit took effect: later calls on this ref object are refused. */
  private ended = false;
  private readonly mounts = new Set<MountedRef>();
  /** Calls on one ref run one after another, so concurrent calls give the result of some serial order. */
  private tail: Promise<unknown> = Promise.resolve();

  constructor(
    host: RefHost,
    readonly id: string,
  ) {
    hosts.set(this, host);
  }

  protected abstract readonly mutable: boolean;

  protected get host(): RefHost {
    return hosts.get(this)!;
  }

  get description() {
    return this.host.metadataOf(this.id).description;
  }
  get recordType() {
    return this.host.metadataOf(this.id).recordType;
  }
  get createdAt() {
    return this.host.metadataOf(this.id).createdAt;
  }
  get lastUsedAt() {
    return this.host.metadataOf(this.id).lastUsedAt;
  }
  get usageCount() {
    return this.host.metadataOf(this.id).usageCount;
  }
  get parent() {
    return this.host.metadataOf(this.id).parent;
  }
  /** The cache key the record was made or imported under. */
  get key() {
    return this.host.metadataOf(this.id).key;
  }
  get isReleased(): boolean {
    return this.ended;
  }

  protected ensureUsable(op: string): void {
    this.host.ensureOpen(op);
    if (this.ended) throw new CacheError('INVALID', `${op}: ref to record ${this.id} was already released`);
  }

  /** Runs `step` after every earlier call on this ref settled. */
  protected serial<T>(step: () => Promise<T>): Promise<T> {
    const run = this.tail.then(step, step);
    this.tail = run.catch(() => {});
    return run;
  }

  mount(options: MountOptions = {}): Promise<MountedRef> {
    return this.serial(async () => {
      this.ensureUsable('mount');
      const readonly = options.readonly ?? !this.mutable;
      // A writable layer can be mounted once at a time (overlayfs refuses a second mount of one upper
      // directory): a second mount of a mutable ref shares the first, which goes when its last user lets go.
      const reuse = this.mutable && !readonly ? this.writable : undefined;
      const shared = reuse ?? { mounted: await this.host.mountRecord(this.id, { readonly }), users: 0 };
      if (this.mutable && !readonly) this.writable = shared;
      shared.users++;
      const tracked: MountedRef = {
        path: shared.mounted.path,
        release: async () => {
          if (!this.mounts.delete(tracked)) return;
          if (--shared.users > 0) return;
          if (this.writable === shared) this.writable = undefined;
          await shared.mounted.release();
        },
      };
      this.mounts.add(tracked);
      return tracked;
    });
  }

  /** The writable mount of a mutable ref, shared by every mount() of it while any is held. */
  private writable: { mounted: MountedRef; users: number } | undefined;

  size(options: { signal?: AbortSignal } = {}): Promise<Usage> {
    this.ensureUsable('size');
    return this.host.sizeOf(this.id, options);
  }

  /** Releases the ref and its mounts. Idempotent per ref object: a second release does nothing. */
  release(): Promise<void> {
    return this.serial(async () => {
      if (this.ended) return;
      await this.releaseMounts();
      await this.host.release(this.id, this.mutable);
      this.ended = true;
    });
  }

  protected async releaseMounts(): Promise<void> {
    for (const m of [...this.mounts]) await m.release();
  }

  /** Ends the ref's own hold without a release: its hold passed to another ref (commit). */
  protected handOver(): void {
    this.ended = true;
  }
}

/** A read-only hold on a record: frozen or committed content. */
export class ImmutableRef extends BaseRef {
  protected readonly mutable = false;

  /** Commits the record's snapshot now instead of lazily. */
  finalize(): Promise<void> {
    return this.serial(async () => {
      this.ensureUsable('finalize');
      await this.host.finalize(this.id);
    });
  }

  /**
   * Brings an imported (lazy) record's content here: downloads and applies the layers its chain
   * lacks. Concurrent callers share one pull; aborting `signal` stops waiting, and cancels the pull
   * once no one else waits for it. Mount, size and `new` on top pull by themselves.
   */
  pull(options: { signal?: AbortSignal } = {}): Promise<void> {
    this.ensureUsable('pull');
    return this.host.pull(this.id, options);
  }

  /** Another ref to the same record; it does not open a new use period. */
  clone(): ImmutableRef {
    this.ensureUsable('clone');
    this.host.clone(this.id);
    return new ImmutableRef(this.host, this.id);
  }
}

/** The single writable hold on a mutable record. */
export class MutableRef extends BaseRef {
  protected readonly mutable = true;

  /** Freezes the content and hands the hold over to an ImmutableRef of the same id. */
  commit(): Promise<ImmutableRef> {
    return this.serial(async () => {
      this.ensureUsable('commit');
      await this.releaseMounts();
      await this.host.commit(this.id);
      this.handOver();
      return new ImmutableRef(this.host, this.id);
    });
  }
}
