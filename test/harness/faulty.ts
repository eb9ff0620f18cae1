/**
 * A snapshotter that wraps a real one and fails chosen calls with ENOSPC or EIO, either before the
 * real call (nothing happened) or after it (it happened, but the caller hears it failed).
 */
import type {
  Info,
  Mount,
  SnapshotOptions,
  Snapshotter,
  Usage,
  UsageOptions,
  WalkFn,
} from '../../src/snapshot/index.js';

export type FaultMethod = 'prepare' | 'commit' | 'remove' | 'mounts' | 'view' | 'usage';
export type FaultWhen = 'before' | 'after';
export type FaultCode = 'ENOSPC' | 'EIO';

export interface Fault {
  method: FaultMethod;
  when: FaultWhen;
  code: FaultCode;
  /** Only keys this matches fail (all keys when absent). */
  key?: (key: string) => boolean;
}

/** The error a fault throws; tests find it in a cause chain by identity. */
export class InjectedFault extends Error {
  override readonly name = 'InjectedFault';
  constructor(
    readonly code: FaultCode,
    readonly method: FaultMethod,
    readonly when: FaultWhen,
    readonly key: string,
  ) {
    super(`${code}: injected ${when} ${method}(${key})`);
  }
}

export class FaultySnapshotter implements Snapshotter {
  /** The fault armed now; undefined runs every call for real. */
  fault: Fault | undefined;
  /** Every fault thrown so far. */
  readonly thrown: InjectedFault[] = [];

  constructor(readonly inner: Snapshotter) {}

  private async run<T>(method: FaultMethod, key: string, call: () => Promise<T>): Promise<T> {
    const f = this.fault;
    const hit = f !== undefined && f.method === method && (f.key === undefined || f.key(key));
    const fail = () => {
      const err = new InjectedFault(f!.code, method, f!.when, key);
      this.thrown.push(err);
      return err;
    };
    if (hit && f.when === 'before') throw fail();
    const result = await call();
    if (hit && f.when === 'after') throw fail();
    return result;
  }

  stat(key: string): Promise<Info> {
    return this.inner.stat(key);
  }
  update(info: Pick<Info, 'name'> & Partial<Pick<Info, 'labels'>>, ...fieldpaths: string[]): Promise<Info> {
    return this.inner.update(info, ...fieldpaths);
  }
  usage(key: string, options?: UsageOptions): Promise<Usage> {
    return this.run('usage', key, () => this.inner.usage(key, options));
  }
  mounts(key: string): Promise<Mount[]> {
    return this.run('mounts', key, () => this.inner.mounts(key));
  }
  prepare(key: string, parent?: string, options?: SnapshotOptions): Promise<Mount[]> {
    return this.run('prepare', key, () => this.inner.prepare(key, parent, options));
  }
  view(key: string, parent?: string, options?: SnapshotOptions): Promise<Mount[]> {
    return this.run('view', key, () => this.inner.view(key, parent, options));
  }
  commit(name: string, key: string, options?: SnapshotOptions): Promise<void> {
    return this.run('commit', key, () => this.inner.commit(name, key, options));
  }
  remove(key: string): Promise<void> {
    return this.run('remove', key, () => this.inner.remove(key));
  }
  walk(fn: WalkFn, ...filters: string[]): Promise<void> {
    return this.inner.walk(fn, ...filters);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
  cleanup(): Promise<void> {
    return this.inner.cleanup?.() ?? Promise.resolve();
  }
  deleted(): Promise<void> {
    return this.inner.deleted?.() ?? Promise.resolve();
  }
}
