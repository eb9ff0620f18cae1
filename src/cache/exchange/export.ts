import { setMaxListeners } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Observable } from 'rxjs';
import type { LayerMemo } from '../../../machines/supervisor.machine.js';
import type { StoredRecord } from '../../metadata/schema.js';
import { type Compression, LAYER_MEDIA_TYPES, writeLayer } from '../../remote/layer/index.js';
import {
  type ImageManifest,
  isRegistryError,
  OCI_MANIFEST_MEDIA_TYPE,
  type PushOutcome,
  RegistryClient,
  sha256Digest,
} from '../../remote/registry/index.js';
import { CacheError } from '../errors.js';
import { withRecordChanges } from './content.js';
import { CACHE_ARTIFACT_TYPE, CACHE_CONFIG_MEDIA_TYPE, type CacheConfig, type ConfigRecord } from './format.js';
import { type ExchangeHost, forEachLimited, type HeldRecord, type RemoteOptions, sameRegistryRepo } from './host.js';

export interface ExportOptions extends RemoteOptions {
  /** Where to: an image reference such as `127.0.0.1:5000/team/cache:main`. */
  to: string;
  /** Records to export, with their ancestors (refs you hold). Default: every immutable record with a key. */
  refs?: readonly { readonly id: string }[];
  /** Records to export by cache key; an unknown key is INVALID. */
  keys?: readonly string[];
  /** `max` (default): every record of each chain with its key; `min`: keys of the tips only. */
  mode?: 'max' | 'min';
  /** Layer compression of records exported for the first time (or in another compression); default gzip. */
  compression?: Compression;
}

/** What an export reports as it goes: each layer, then the manifest. */
export type ExportProgress =
  | {
      type: 'layer';
      id: string;
      key?: string;
      digest: string;
      size: number;
      /** `uploaded` (written and pushed), `exists` (one HEAD), `mounted` (from another repository). */
      outcome: PushOutcome;
    }
  | { type: 'manifest'; reference: string; digest: string; layers: number; records: number };

/** At most this many layers are written and pushed at once; each is streamed, never held in memory. */
const EXPORT_CONCURRENCY = 3;
/** HEAD requests for layers exported before: no body, so many can be in flight. */
const HEAD_CONCURRENCY = 16;

/** `cm.export`: the records' own diffs as layers, one OCI image manifest, and a cachekit config. */
export function exportCache(host: ExchangeHost, options: ExportOptions): Observable<ExportProgress> {
  return new Observable<ExportProgress>((subscriber) => {
    const abort = new AbortController();
    // Every request in flight listens to it: up to HEAD_CONCURRENCY at once.
    setMaxListeners(4 * HEAD_CONCURRENCY, abort.signal);
    const stop = () => abort.abort(options.signal?.reason ?? new CacheError('INVALID', 'export: cancelled'));
    if (options.signal?.aborted) stop();
    options.signal?.addEventListener('abort', stop, { once: true });
    runExport(host, options, abort.signal, (p) => subscriber.next(p)).then(
      () => subscriber.complete(),
      (err: unknown) => subscriber.error(err),
    );
    return () => {
      options.signal?.removeEventListener('abort', stop);
      abort.abort(new CacheError('INVALID', 'export: unsubscribed'));
    };
  });
}

async function runExport(
  host: ExchangeHost,
  options: ExportOptions,
  signal: AbortSignal,
  emit: (p: ExportProgress) => void,
): Promise<void> {
  const compression = options.compression ?? 'gzip';
  if (!(compression in LAYER_MEDIA_TYPES))
    throw new CacheError(
      'INVALID',
      `export: compression ${JSON.stringify(compression)} is not gzip, zstd or uncompressed`,
    );
  const mode = options.mode ?? 'max';
  if (mode !== 'max' && mode !== 'min')
    throw new CacheError('INVALID', `export: mode ${JSON.stringify(mode)} is not max or min`);
  const target = RegistryClient.forReference(options.to);
  const { client, ref } = RegistryClient.forReference(options.to, host.clientOptions(options, target.ref.registry));
  const tag = ref.tag;
  if (tag === undefined)
    throw new CacheError('INVALID', `export: ${options.to} names a digest; an export needs a tag to write`);
  const tips = chainTips(host, selectTips(host, options));
  const held = await host.holdChains(tips);
  try {
    const tipSet = new Set(tips);
    const scratch = join(host.root, 'exchange');
    await mkdir(scratch, { recursive: true, mode: 0o700 });
    const layers: LayerMemo[] = new Array(held.length);
    const report = (record: HeldRecord, layer: LayerMemo, outcome: PushOutcome) =>
      emit({
        type: 'layer',
        id: record.id,
        ...(record.meta.key === undefined ? {} : { key: record.meta.key }),
        digest: layer.digest,
        size: layer.size,
        outcome,
      });
    // The tag's manifest lists blobs the repository holds: an unchanged cache needs no request per layer.
    const listed = await listedBlobs(client, ref.repository, tag, signal);
    held.forEach((record, i) => {
      const known = record.meta.layer;
      if (known === undefined || known.mediaType !== LAYER_MEDIA_TYPES[compression] || !listed.has(known.digest))
        return;
      layers[i] = known;
      report(record, known, 'exists');
    });
    // Other layers exported before are only asked about (HEAD), many at once; the rest are written and pushed.
    await forEachLimited(held, HEAD_CONCURRENCY, signal, async (record, i) => {
      if (layers[i] !== undefined) return;
      const known = record.meta.layer;
      if (known === undefined || known.mediaType !== LAYER_MEDIA_TYPES[compression]) return;
      if (!(await client.headBlob(ref.repository, known.digest, signal))) return;
      layers[i] = known;
      report(record, known, 'exists');
    });
    const rest = held.flatMap((record, i) => (layers[i] === undefined ? [{ record, i }] : []));
    await forEachLimited(rest, EXPORT_CONCURRENCY, signal, async ({ record, i }) => {
      const { layer, outcome } = await pushRecordLayer(
        host,
        client,
        ref.repository,
        record,
        compression,
        scratch,
        signal,
      );
      layers[i] = layer;
      report(record, layer, outcome);
    });
    const position = new Map(held.map((r, i) => [r.id, i]));
    const records: ConfigRecord[] = held.map((record, i) =>
      configRecord(record.meta, layers[i]!, position, mode, tipSet),
    );
    const config: CacheConfig = { version: 1, records };
    const bytes = Buffer.from(JSON.stringify(config));
    const configDigest = sha256Digest(bytes);
    await client.pushBlobBytes(ref.repository, bytes, configDigest, { signal });
    const manifest: ImageManifest = {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST_MEDIA_TYPE,
      artifactType: CACHE_ARTIFACT_TYPE,
      config: { mediaType: CACHE_CONFIG_MEDIA_TYPE, digest: configDigest, size: bytes.length },
      layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
    };
    const put = await client.putManifest(ref.repository, tag, manifest, signal);
    emit({
      type: 'manifest',
      reference: options.to,
      digest: put.digest,
      layers: layers.length,
      records: records.length,
    });
  } finally {
    await Promise.allSettled(held.map((r) => r.release()));
  }
}

/** The records asked for, as ids: refs, keys, or every immutable record that has a key. */
function selectTips(host: ExchangeHost, options: ExportOptions): string[] {
  const ids = new Set<string>();
  for (const r of options.refs ?? []) ids.add(r.id);
  for (const key of options.keys ?? []) {
    const id = host.index.findKey(key);
    if (id === undefined)
      throw new CacheError('INVALID', `export: no record holds key ${JSON.stringify(key.slice(0, 80))}`);
    ids.add(id);
  }
  if (options.refs === undefined && options.keys === undefined)
    for (const id of host.index.ids())
      if (host.index.meta(id)?.key !== undefined && host.index.is(id, 'immutable')) ids.add(id);
  return [...ids];
}

/** The blobs the manifest under `tag` references (so the repository holds them); none when there is none. */
async function listedBlobs(client: RegistryClient, repository: string, tag: string, signal: AbortSignal) {
  try {
    const { manifest } = await client.getManifest(repository, tag, signal);
    return new Set(manifest.layers.map((l) => l.digest));
  } catch (err) {
    // No manifest yet, or one this client does not read: the layers are asked about one by one.
    if (isRegistryError(err) && err.code !== 'UNAUTHORIZED' && err.code !== 'NETWORK') return new Set<string>();
    throw err;
  }
}

/**
 * The selected records no other selected record stands on: holding them holds their chains (a record
 * with children cannot be removed), and `mode: 'min'` keeps their keys only.
 */
function chainTips(host: ExchangeHost, selected: string[]): string[] {
  const ancestors = new Set<string>();
  for (const id of selected)
    for (let p = host.index.meta(id)?.parent; p !== undefined && !ancestors.has(p); p = host.index.meta(p)?.parent)
      ancestors.add(p);
  return selected.filter((id) => !ancestors.has(id));
}

function configRecord(
  meta: StoredRecord,
  layer: LayerMemo,
  position: Map<string, number>,
  mode: 'max' | 'min',
  tips: Set<string>,
): ConfigRecord {
  const parent = meta.parent === undefined ? undefined : position.get(meta.parent);
  const withKey = meta.key !== undefined && (mode === 'max' || tips.has(meta.id));
  return {
    ...(withKey ? { key: meta.key } : {}),
    ...(parent === undefined ? {} : { parent }),
    layer: position.get(meta.id)!,
    diffId: layer.diffId,
    uncompressedSize: layer.uncompressedSize,
    ...(meta.description === undefined ? {} : { description: meta.description }),
    recordType: meta.recordType,
    createdAt: meta.createdAt,
    ...(meta.lastUsedAt === undefined ? {} : { lastUsedAt: meta.lastUsedAt }),
  };
}

/**
 * One record's layer in the target repository. A layer exported before (its digest kept in the record)
 * costs a HEAD, or a cross-repository mount from where it was last seen; only a record never exported,
 * or exported in another compression, is written as a tar (to a file, so the upload can resume).
 */
async function pushRecordLayer(
  host: ExchangeHost,
  client: RegistryClient,
  repository: string,
  record: HeldRecord,
  compression: Compression,
  scratch: string,
  signal: AbortSignal,
): Promise<{ layer: LayerMemo; outcome: PushOutcome }> {
  const known = record.meta.layer;
  const here = `${client.registry}/${repository}`;
  const lazy = host.index.is(record.id, 'lazy');
  if (known !== undefined && (lazy || known.mediaType === LAYER_MEDIA_TYPES[compression])) {
    if (await client.headBlob(repository, known.digest, signal)) return { layer: known, outcome: 'exists' };
    const from = known.source === undefined ? undefined : sameRegistryRepo(known.source, client.registry);
    if (from !== undefined && from !== repository) {
      try {
        const mounted = await client.mountBlob(repository, known.digest, from, signal);
        if (mounted.mounted) {
          await host.rememberLayer(record.id, { ...known, source: here });
          return { layer: known, outcome: 'mounted' };
        }
      } catch (err) {
        if (!isRegistryError(err)) throw err;
      }
    }
    if (lazy)
      throw new CacheError(
        'INVALID',
        `export: record ${record.id} is lazy and its layer ${known.digest} is neither in ${here} nor mountable; pull it first`,
      );
  }
  const file = join(scratch, `${record.id}-${process.pid}-${Date.now()}.layer`);
  try {
    const info = await withRecordChanges(host.snapshotter, scratch, record.id, record.meta.parent, (changes) =>
      writeLayer(changes, createWriteStream(file), { compression, signal }),
    );
    const pushed = await client.pushBlobFile(repository, file, info.digest, { signal });
    const layer: LayerMemo = {
      mediaType: info.mediaType,
      digest: info.digest,
      size: info.size,
      diffId: info.diffId,
      uncompressedSize: info.uncompressedSize,
      source: here,
    };
    await host.rememberLayer(record.id, layer);
    return { layer, outcome: pushed.outcome };
  } finally {
    await rm(file, { force: true });
  }
}
