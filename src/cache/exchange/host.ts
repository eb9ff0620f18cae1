import type { LayerMemo } from '../../../machines/supervisor.machine.js';
import type { StoredRecord } from '../../metadata/schema.js';
import type { Credentials, RegistryClientOptions } from '../../remote/registry/index.js';
import type { Snapshotter } from '../../snapshot/types.js';
import { CacheError } from '../errors.js';
import type { RecordIndex } from '../records/record-index.js';

/** How to reach the registry; the same for export, import and a lazy record's pull. */
export interface RemoteOptions {
  signal?: AbortSignal;
  /** Basic credentials (also traded for a Bearer token); default: `auths` of ~/.docker/config.json. */
  auth?: Credentials;
  /** Allow plain HTTP to a host that is not loopback. */
  insecure?: boolean;
}

/** A record an exchange works on, held (with its chain) until `release`. */
export interface HeldRecord {
  readonly id: string;
  readonly meta: StoredRecord;
  release(): Promise<void>;
}

/** What export, import and pull need from the engine; the manager builds it. */
export interface ExchangeHost {
  readonly root: string;
  readonly snapshotter: Snapshotter;
  readonly index: RecordIndex;
  /** Client options for one call: its credentials, else what an import of this process used for the host. */
  clientOptions(options: RemoteOptions, registry?: string): RegistryClientOptions;
  /** Holds every tip (committing frozen ones) and lists each chain, parents before children. */
  holdChains(tips: readonly string[]): Promise<HeldRecord[]>;
  /** Keeps a record's layer in its metadata, through the supervisor. */
  rememberLayer(id: string, layer: LayerMemo): Promise<void>;
}

/** The repository part of `registry/repository` when it is on `registry`. */
export function sameRegistryRepo(source: string, registry: string): string | undefined {
  return source.startsWith(`${registry}/`) ? source.slice(registry.length + 1) : undefined;
}

/** Runs `fn` over the items, at most `limit` at a time; the first failure aborts the rest and is thrown. */
export async function forEachLimited<T>(
  items: readonly T[],
  limit: number,
  signal: AbortSignal,
  fn: (item: T, index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    while (failure === undefined && next < items.length) {
      if (signal.aborted) throw signal.reason;
      const i = next++;
      try {
        await fn(items[i]!, i);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure !== undefined) throw failure.error;
}

/** The ancestors of each tip and the tips, parents first, each once. */
export function chainsOf(index: RecordIndex, tips: readonly string[]): StoredRecord[] {
  const out: StoredRecord[] = [];
  const seen = new Set<string>();
  for (const tip of tips) {
    const chain: StoredRecord[] = [];
    for (let id: string | undefined = tip; id !== undefined && !seen.has(id); ) {
      const meta = index.meta(id);
      if (meta === undefined) throw new CacheError('NOT_FOUND', `export: record ${id} not found`);
      seen.add(id);
      chain.push(meta);
      id = meta.parent;
    }
    out.push(...chain.reverse());
  }
  return out;
}

/** The engine parts the manager lends to an exchange. */
export interface ExchangeDeps {
  root: string;
  snapshotter: Snapshotter;
  index: RecordIndex;
  /** An ImmutableRef's id and release, taken through the manager (so the supervisor decides). */
  get(id: string): Promise<{ finalize(): Promise<void>; release(): Promise<void> }>;
  rememberLayer(id: string, layer: LayerMemo): Promise<void>;
}

/** Credentials an import or export of this process was given, by registry host, for later pulls. */
const remembered = new Map<string, RegistryClientOptions>();

/** What an import or export of this process was told for `registry`: a pull uses the same credentials. */
export function rememberedClientOptions(registry: string): RegistryClientOptions {
  return remembered.get(registry) ?? {};
}

export function exchangeHost(deps: ExchangeDeps): ExchangeHost {
  return {
    root: deps.root,
    snapshotter: deps.snapshotter,
    index: deps.index,
    rememberLayer: deps.rememberLayer,
    clientOptions(options, registry) {
      const given: RegistryClientOptions = {
        ...(options.auth === undefined ? {} : { auth: options.auth }),
        ...(options.insecure === undefined ? {} : { insecure: options.insecure }),
      };
      if (registry === undefined) return given;
      if (options.auth !== undefined || options.insecure !== undefined) {
        remembered.set(registry, given);
        return given;
      }
      return remembered.get(registry) ?? given;
    },
    async holdChains(tips) {
      const refs: { release(): Promise<void> }[] = [];
      try {
        for (const id of tips) {
          const ref = await deps.get(id);
          refs.push(ref);
          if (!deps.index.is(id, 'committedContent') && !deps.index.is(id, 'lazy')) await ref.finalize();
        }
      } catch (err) {
        await Promise.allSettled(refs.map((r) => r.release()));
        throw err;
      }
      const chain = chainsOf(deps.index, tips);
      const tipRefs = new Map(tips.map((id, i) => [id, refs[i]!]));
      return chain.map((meta) => ({
        id: meta.id,
        meta,
        release: async () => {
          await tipRefs.get(meta.id)?.release();
        },
      }));
    },
  };
}
