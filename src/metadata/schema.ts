import { z } from 'zod';

/** Bump when the stored shape changes, and add a step to migrations.ts. */
export const SCHEMA_VERSION = 2;

/** The durable part of a record's state; holders are per process and never stored. */
export const StoredState = z.enum(['mutable', 'frozen', 'committed', 'remote', 'removing']);
export type StoredState = z.infer<typeof StoredState>;

export const StoredUsage = z.strictObject({
  size: z.number().int().nonnegative(),
  inodes: z.number().int().nonnegative(),
});

export const RecordId = z
  .string()
  .min(1, 'is empty')
  .max(256, 'is longer than 256 characters')
  .regex(/^[\x21-\x7e]+$/, 'has a character outside printable ASCII');

/** Longest cache key in UTF-8 bytes: keys are digests or short names, never content. */
export const MAX_CACHE_KEY_BYTES = 1024;

/** What a record holds, named by its builder (a BuildKit-style cache key); one record per key. */
export const CacheKey = z
  .string()
  .min(1, 'is empty')
  .refine((k) => Buffer.byteLength(k, 'utf8') <= MAX_CACHE_KEY_BYTES, `is longer than ${MAX_CACHE_KEY_BYTES} bytes`);
export type CacheKey = z.infer<typeof CacheKey>;

const Sha256 = z.string().regex(/^sha256:[a-f0-9]{64}$/, 'is not a sha256 digest');

/**
 * The record's own layer as a registry holds it: set by the first export (so an unchanged record is
 * exported again with one HEAD and no tar) and by import (where a lazy record's content comes from).
 */
export const StoredLayer = z.strictObject({
  mediaType: z.string().min(1).max(255),
  /** sha256 of the compressed blob. */
  digest: Sha256,
  size: z.number().int().nonnegative(),
  /** sha256 of the uncompressed tar. */
  diffId: Sha256,
  uncompressedSize: z.number().int().nonnegative(),
  /** `registry/repository` known to hold the blob: where a lazy record pulls from, or a mount source. */
  source: z.string().min(1).max(4096).optional(),
});
export type StoredLayer = z.infer<typeof StoredLayer>;

export const StoredRecord = z.strictObject({
  id: RecordId,
  parent: RecordId.optional(),
  state: StoredState,
  retain: z.boolean(),
  description: z.string().max(4096).optional(),
  recordType: z.string().min(1).max(256),
  createdAt: z.number().int().nonnegative(),
  lastUsedAt: z.number().int().nonnegative().optional(),
  usageCount: z.number().int().nonnegative(),
  /** The cache key the record was made under; indexed, so a lookup by key reads one entry. */
  key: CacheKey.optional(),
  /** The record's layer in a registry, once exported or imported. */
  layer: StoredLayer.optional(),
  /** Known size of an immutable record; cleared on commit and thaw. */
  usage: StoredUsage.optional(),
});
export type StoredRecord = z.infer<typeof StoredRecord>;

export const SchemaVersion = z.number().int().positive();
