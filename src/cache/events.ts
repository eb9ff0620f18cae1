import { z } from 'zod';
import { RECORD_STATES } from '../../machines/record.machine.js';

/** Every event on `cm.events$`, each with its zod schema; `CacheEventSchema` checks any of them. */

const at = z.number().int().nonnegative();
const RecordStateSchema = z.enum(RECORD_STATES);

export const RecordTransitionEventSchema = z.strictObject({
  type: z.literal('record.transition'),
  id: z.string(),
  from: RecordStateSchema,
  to: RecordStateSchema,
  event: z.string(),
  at,
});
export const RecordCreatedEventSchema = z.strictObject({
  type: z.literal('record.created'),
  id: z.string(),
  parent: z.string().optional(),
  at,
});
export const RecordRemovedEventSchema = z.strictObject({
  type: z.literal('record.removed'),
  id: z.string(),
  reason: z.string(),
  at,
});
export const OperationEventSchema = z.strictObject({
  type: z.literal('op'),
  op: z.string(),
  id: z.string().optional(),
  ms: z.number().nonnegative(),
  outcome: z.enum(['ok', 'error']),
  code: z.string().optional(),
  at,
});
export const ReconcileEventSchema = z.strictObject({
  type: z.literal('reconcile'),
  action: z.string(),
  id: z.string().optional(),
  detail: z.string(),
  at,
});
export const PruneRemovedEventSchema = z.strictObject({
  type: z.literal('prune.removed'),
  id: z.string(),
  size: z.number().nonnegative(),
  rule: z.string(),
  reason: z.string(),
  dryRun: z.boolean(),
  at,
});
export const GcDoneEventSchema = z.strictObject({
  type: z.literal('gc.done'),
  removed: z.number().int(),
  freed: z.number(),
  ms: z.number(),
  at,
});
export const GcErrorEventSchema = z.strictObject({ type: z.literal('gc.error'), message: z.string(), at });
export const SizeProgressEventSchema = z.strictObject({
  type: z.literal('size.progress'),
  done: z.number().int(),
  total: z.number().int(),
  bytes: z.number(),
  at,
});
export const SizeFailedEventSchema = z.strictObject({
  type: z.literal('size.failed'),
  id: z.string(),
  reason: z.string(),
  at,
});
/** A stored record failed its schema; it is skipped everywhere and left untouched on disk. */
export const RecordCorruptEventSchema = z.strictObject({
  type: z.literal('record.corrupt'),
  id: z.string(),
  reason: z.string(),
  at,
});
/** A metadata write failed; the operation waiting on it, if any, rejected with the cause. */
export const WriteFailedEventSchema = z.strictObject({
  type: z.literal('metadata.writeFailed'),
  id: z.string(),
  message: z.string(),
  at,
});
export const EventsDroppedEventSchema = z.strictObject({
  type: z.literal('events.dropped'),
  count: z.number().int().positive(),
  at,
});

export const CacheEventSchema = z.discriminatedUnion('type', [
  RecordTransitionEventSchema,
  RecordCreatedEventSchema,
  RecordRemovedEventSchema,
  OperationEventSchema,
  ReconcileEventSchema,
  PruneRemovedEventSchema,
  GcDoneEventSchema,
  GcErrorEventSchema,
  SizeProgressEventSchema,
  SizeFailedEventSchema,
  WriteFailedEventSchema,
  RecordCorruptEventSchema,
  EventsDroppedEventSchema,
]);

export type CacheEvent = z.infer<typeof CacheEventSchema>;
export type CacheEventType = CacheEvent['type'];
export type CacheEventOf<T extends CacheEventType> = Extract<CacheEvent, { type: T }>;
