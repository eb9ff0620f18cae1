import { z } from 'zod';
import { CacheKey } from '../../metadata/schema.js';
import { type ImageManifest, RegistryError, type RegistryErrorContext } from '../../remote/registry/index.js';

/**
 * The cache as a registry holds it: one OCI image manifest (the form every registry accepts) whose
 * layers are the records' own diffs, and whose config blob, of its own media type, says which layer
 * is which record and how the records stack.
 */
export const CACHE_CONFIG_MEDIA_TYPE = 'application/vnd.cachekit.cache.config.v1+json';
/** The manifest's artifactType, so registries and tools can tell a cache from an image. */
export const CACHE_ARTIFACT_TYPE = 'application/vnd.cachekit.cache.v1';

const Sha256 = z.string().regex(/^sha256:[a-f0-9]{64}$/, 'is not a sha256 digest');
const Time = z.number().int().nonnegative().max(8.64e15);

/** One record of the cache config. `parent` and `layer` are indexes (into `records`, into the manifest). */
export const ConfigRecordSchema = z.strictObject({
  key: CacheKey.optional(),
  parent: z.number().int().nonnegative().optional(),
  layer: z.number().int().nonnegative(),
  diffId: Sha256,
  uncompressedSize: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  description: z.string().max(4096).optional(),
  recordType: z
    .string()
    .min(1)
    .max(256)
    .regex(/^[\x21-\x7e]+$/),
  createdAt: Time,
  lastUsedAt: Time.optional(),
});
export type ConfigRecord = z.infer<typeof ConfigRecordSchema>;

/** The config blob. No size cap: a cache of many records is just a longer array. */
export const CacheConfigSchema = z.strictObject({
  version: z.literal(1),
  records: z.array(ConfigRecordSchema),
});
export type CacheConfig = z.infer<typeof CacheConfigSchema>;

/**
 * What zod cannot say: every parent comes before its child (so the records form a forest and can be
 * made in order), every layer index is in the manifest, and no layer serves two records.
 */
export function checkConfig(config: CacheConfig, manifest: ImageManifest, context: RegistryErrorContext): void {
  const fail = (reason: string): never => {
    throw new RegistryError('INVALID_MANIFEST', context, `cache config: ${reason}`);
  };
  const used = new Set<number>();
  const keys = new Set<string>();
  config.records.forEach((record, i) => {
    if (record.parent !== undefined && record.parent >= i)
      fail(`record ${i} names parent ${record.parent}, which does not come before it`);
    if (record.layer >= manifest.layers.length)
      fail(`record ${i} names layer ${record.layer}, but the manifest has ${manifest.layers.length}`);
    if (used.has(record.layer)) fail(`layer ${record.layer} belongs to two records`);
    used.add(record.layer);
    if (record.key !== undefined) {
      if (keys.has(record.key)) fail(`key ${JSON.stringify(record.key.slice(0, 80))} belongs to two records`);
      keys.add(record.key);
    }
  });
  if (manifest.config.mediaType !== CACHE_CONFIG_MEDIA_TYPE)
    fail(`config media type ${manifest.config.mediaType} is not ${CACHE_CONFIG_MEDIA_TYPE}`);
}
