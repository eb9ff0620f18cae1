import { z } from 'zod';

/** Bump when the stored shape changes, and add a step to migrations.ts. */
export const SCHEMA_VERSION = 2;

/** The durable part of a record's state; holders are per process and never stored. */
export const StoredState = z.enum(['mutable', 'frozen', 'committed', 'removing']);
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
  /** Known size of an immutable record; cleared on commit and thaw. */
  usage: StoredUsage.optional(),
});
export type StoredRecord = z.infer<typeof StoredRecord>;

export const SchemaVersion = z.number().int().positive();
