import { Observable } from 'rxjs';
import type { ImportedRecord } from '../../../machines/supervisor.machine.js';
import { RegistryClient } from '../../remote/registry/index.js';
import { compressionOf } from '../../remote/layer/index.js';
import { CacheError } from '../errors.js';
import { CacheConfigSchema, checkConfig } from './format.js';
import type { RemoteOptions } from './host.js';

export interface ImportOptions extends RemoteOptions {
  /** The cache to import: an image reference such as `127.0.0.1:5000/team/cache:main`. */
  from: string;
}

/** What an import reports: the manifest read, then the records made lazy and those kept local. */
export type ImportProgress =
  | { type: 'manifest'; reference: string; digest: string; layers: number; records: number }
  | {
      type: 'records';
      /** Records made lazy: key, chain and metadata known, no layer downloaded. */
      created: string[];
      /** Local records whose key the cache also names: the local content wins. */
      kept: string[];
    };

/** What the import needs from the engine. */
export interface ImportHost {
  clientOptions(options: RemoteOptions, registry: string): ConstructorParameters<typeof RegistryClient>[1];
  /** Makes the lazy records through the supervisor; returns what it made and what it kept. */
  importRecords(records: ImportedRecord[]): Promise<{ created: string[]; kept: string[] }>;
}

/**
 * `cm.import`: reads the manifest and the config (both checked: zod, then the structure) and makes a
 * lazy record per entry without downloading a layer. A layer's media type must be one this client
 * can apply, so a bad cache fails here and not at the first mount.
 */
export function importCache(host: ImportHost, options: ImportOptions): Observable<ImportProgress> {
  return new Observable<ImportProgress>((subscriber) => {
    const abort = new AbortController();
    const stop = () => abort.abort(options.signal?.reason ?? new CacheError('INVALID', 'import: cancelled'));
    if (options.signal?.aborted) stop();
    options.signal?.addEventListener('abort', stop, { once: true });
    runImport(host, options, abort.signal, (p) => subscriber.next(p)).then(
      () => subscriber.complete(),
      (err: unknown) => subscriber.error(err),
    );
    return () => {
      options.signal?.removeEventListener('abort', stop);
      abort.abort(new CacheError('INVALID', 'import: unsubscribed'));
    };
  });
}

async function runImport(
  host: ImportHost,
  options: ImportOptions,
  signal: AbortSignal,
  emit: (p: ImportProgress) => void,
): Promise<void> {
  if (typeof options?.from !== 'string') throw new CacheError('INVALID', 'import: from is not an image reference');
  const parsed = RegistryClient.forReference(options.from);
  const { client, ref } = RegistryClient.forReference(options.from, host.clientOptions(options, parsed.ref.registry));
  const reference = ref.digest ?? ref.tag ?? 'latest';
  const { manifest, digest } = await client.getManifest(ref.repository, reference, signal);
  const context = { op: 'import cache', registry: client.registry, repository: ref.repository, reference, digest };
  checkConfig({ version: 1, records: [] }, manifest, context);
  const config = await client.getJsonBlob(ref.repository, manifest.config, CacheConfigSchema, signal);
  checkConfig(config, manifest, context);
  for (const layer of manifest.layers) compressionOf(layer.mediaType);
  emit({
    type: 'manifest',
    reference: options.from,
    digest,
    layers: manifest.layers.length,
    records: config.records.length,
  });
  const source = `${client.registry}/${ref.repository}`;
  const records: ImportedRecord[] = config.records.map((r) => {
    const desc = manifest.layers[r.layer]!;
    return {
      ...(r.key === undefined ? {} : { key: r.key }),
      ...(r.parent === undefined ? {} : { parent: { index: r.parent } }),
      ...(r.description === undefined ? {} : { description: r.description }),
      recordType: r.recordType,
      createdAt: r.createdAt,
      ...(r.lastUsedAt === undefined ? {} : { lastUsedAt: r.lastUsedAt }),
      layer: {
        mediaType: desc.mediaType,
        digest: desc.digest,
        size: desc.size,
        diffId: r.diffId,
        uncompressedSize: r.uncompressedSize,
        source,
      },
    };
  });
  signal.throwIfAborted();
  const { created, kept } = await host.importRecords(records);
  emit({ type: 'records', created, kept });
}
