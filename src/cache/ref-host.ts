import { join } from 'node:path';
import type { Observable } from 'rxjs';
import type { Usage } from '../snapshot/types.js';
import { CacheError } from './errors.js';
import { contentKey } from './keys.js';
import { mountRecord } from './mounts.js';
import type { Engine } from './open.js';
import type { RecordIndex } from './records/record-index.js';
import { hasTag, stateFacts } from './records/rules.js';
import type { RecordMetadata, RefHost } from './refs.js';

/** What the refs' host needs from the manager that owns it. */
export interface RefHostDeps {
  engine(): Engine;
  root(): string;
  ensureOpen(op: string): void;
  pull(id: string, signal?: AbortSignal): Promise<void>;
  size$(id: string): Observable<Usage>;
}

/** A record's metadata as refs and `describe` show it; NOT_FOUND when unknown. */
export function recordMetadata(index: RecordIndex, id: string): RecordMetadata {
  const meta = index.meta(id);
  if (!meta) throw new CacheError('NOT_FOUND', `record ${id} not found`);
  return {
    description: meta.description,
    recordType: meta.recordType,
    createdAt: new Date(meta.createdAt),
    lastUsedAt: meta.lastUsedAt === undefined ? undefined : new Date(meta.lastUsedAt),
    usageCount: meta.usageCount,
    parent: meta.parent,
    key: meta.key,
  };
}

/**
 * The private host every ref calls back into: each call a supervisor operation (or a read the
 * record's machine allows), checked against a closed manager first.
 */
export function refHostFor(deps: RefHostDeps): RefHost {
  const request = <T>(op: Parameters<Engine['supervisor']['request']>[0]) => {
    deps.ensureOpen(op.type.toLowerCase());
    return deps.engine().supervisor.request<T>(op);
  };
  return {
    metadataOf: (id) => recordMetadata(deps.engine().index, id),
    ensureOpen: (op) => deps.ensureOpen(op),
    pull: (id, { signal }) => deps.pull(id, signal),
    mountRecord: async (id, options) => {
      deps.ensureOpen('mount');
      const engine = deps.engine();
      if (engine.index.is(id, 'lazy')) await deps.pull(id);
      const { index, snapshotter } = engine;
      const state = index.stateOf(id);
      if (state === undefined) throw new CacheError('NOT_FOUND', `mount: record ${id} not found`);
      // Content on its way out is never handed out again; the machine says why.
      if (hasTag(state, 'removal')) {
        const { code, reason } = stateFacts(state).refusal('ACQUIRE');
        throw new CacheError(code, `mount: record ${id}: ${reason}`);
      }
      return mountRecord(snapshotter, join(deps.root(), 'mounts'), id, contentKey(id, state), options);
    },
    sizeOf: (id, { signal }) =>
      new Promise<Usage>((resolve, reject) => {
        if (signal?.aborted) return reject(signal.reason);
        const sub = deps.size$(id).subscribe({ next: resolve, error: reject });
        signal?.addEventListener(
          'abort',
          () => {
            sub.unsubscribe();
            reject(signal.reason);
          },
          { once: true },
        );
      }),
    release: (id, mutable) => request<void>({ type: 'RELEASE', id, mutable }),
    commit: async (id) => {
      await request<string>({ type: 'COMMIT', id });
    },
    finalize: (id) => request<void>({ type: 'FINALIZE', id }),
    clone: (id) => {
      deps.ensureOpen('clone');
      deps.engine().supervisor.requestSync<string>({ type: 'CLONE', id });
    },
  };
}
