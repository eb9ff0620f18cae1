import type { Usage } from '../snapshot/types.js';
import { CacheError } from './errors.js';

export interface MountOptions {
  readonly?: boolean;
}

/** A mounted view of a record's content; release it when done. */
export interface MountedRef {
  path: string;
  release(): Promise<void>;
}

/** The metadata every ref shows of its record. */
export interface RecordMetadata {
  description: string | undefined;
  recordType: string;
  createdAt: Date;
  lastUsedAt: Date | undefined;
  usageCount: number;
  parent: string | undefined;
}

/** What refs need from the manager; implemented by CacheManager. */
export interface RefHost {
  metadataOf(id: string): RecordMetadata;
  mountRecord(id: string, options: MountOptions): Promise<MountedRef>;
  sizeOf(id: string, options: { signal?: AbortSignal }): Promise<Usage>;
  release(id: string, mutable: boolean): Promise<void>;
  commit(id: string): Promise<ImmutableRef>;
  finalize(id: string): Promise<void>;
  clone(id: string): ImmutableRef;
}

abstract class BaseRef {
  protected released = false;
  private readonly mounts = new Set<MountedRef>();

  constructor(
    protected readonly host: RefHost,
    readonly id: string,
  ) {}

  protected abstract readonly mutable: boolean;

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
  get isReleased(): boolean {
    return this.released;
  }

  protected ensureOpen(op: string): void {
    if (this.released) throw new CacheError('INVALID', `${op}: ref to record ${this.id} was already released`);
  }

  async mount(options: MountOptions = {}): Promise<MountedRef> {
    this.ensureOpen('mount');
    const mounted = await this.host.mountRecord(this.id, { readonly: options.readonly ?? !this.mutable });
    const tracked: MountedRef = {
      path: mounted.path,
      release: async () => {
        if (!this.mounts.delete(tracked)) return;
        await mounted.release();
      },
    };
    this.mounts.add(tracked);
    return tracked;
  }

  size(options: { signal?: AbortSignal } = {}): Promise<Usage> {
    this.ensureOpen('size');
    return this.host.sizeOf(this.id, options);
  }

  /** Releases the ref and its mounts; a second release does nothing. */
  async release(): Promise<void> {
    if (this.released) return;
    await this.releaseMounts();
    this.released = true;
    await this.host.release(this.id, this.mutable);
  }

  protected async releaseMounts(): Promise<void> {
    for (const m of [...this.mounts]) await m.release();
  }
}

/** A read-only hold on a record: frozen or committed content. */
export class ImmutableRef extends BaseRef {
  protected readonly mutable = false;

  /** Commits the record's snapshot now instead of lazily. */
  async finalize(): Promise<void> {
    this.ensureOpen('finalize');
    await this.host.finalize(this.id);
  }

  /** Another ref to the same record; it does not open a new use period. */
  clone(): ImmutableRef {
    this.ensureOpen('clone');
    return this.host.clone(this.id);
  }
}

/** The single writable hold on a mutable record. */
export class MutableRef extends BaseRef {
  protected readonly mutable = true;

  /** Freezes the content and hands the hold over to an ImmutableRef of the same id. */
  async commit(): Promise<ImmutableRef> {
    this.ensureOpen('commit');
    await this.releaseMounts();
    const ref = await this.host.commit(this.id);
    this.released = true;
    return ref;
  }
}
