import { z } from 'zod';

/** Bump when the stored shape changes, and add a step to migrations.ts. */
export const SCHEMA_VERSION = 1;

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
  /** Known size of an immutable record; cleared on commit and thaw. */
  usage: StoredUsage.optional(),
});
export type StoredRecord = z.infer<typeof StoredRecord>;

export const SchemaVersion = z.number().int().positive();
