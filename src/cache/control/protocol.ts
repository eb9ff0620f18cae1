import { join } from 'node:path';
import { z } from 'zod';
import { RECORD_STATES } from '../../../machines/record.machine.js';

/*
 * The control socket's protocol: newline-delimited JSON, one object per line, in both directions.
 * The owner of a root serves it at `<root>/control.sock`; everything it answers is read-only.
 *
 * server -> client, once on connect:  { type: 'hello', protocol, pid, root }
 * client -> server:                   a ControlRequest, with an optional `seq` echoed in every answer
 * server -> client, per request:      `result` (one value), or `chunk`s then `end` (lists), or `delta`s
 *                                      until the client disconnects (watch); `error` for any failure.
 */

/** Bumped when a message changes shape; a client refuses a hello with another number. */
export const CONTROL_PROTOCOL = 1;

/** Where the owner of `root` serves its control socket. */
export const controlSocketPath = (root: string): string => join(root, 'control.sock');

/**
 * Why a unix socket cannot live at `path`, or undefined when it can. Linux keeps at most 107 bytes of a socket's
 * path, and Node cuts a longer one silently: the socket would be made somewhere else entirely.
 */
export function socketPathProblem(path: string): string | undefined {
  const bytes = Buffer.byteLength(path);
  return bytes > 107 ? `its path is ${bytes} bytes long, and a unix socket's path holds at most 107` : undefined;
}

/** Bounds that keep one client from costing the owner more than a little memory. */
export const CONTROL_LIMITS = {
  /** Longest request line, newline excluded. */
  maxLineBytes: 64 * 1024,
  /** Connections served at once; the next one is told BUSY and closed. */
  maxConnections: 16,
  /** Bytes a client may leave unread before a watch is cut off (lists wait for it instead). */
  maxUnsentBytes: 8 * 1024 * 1024,
  /** Requests read ahead of the one being answered before the connection stops reading. */
  maxQueuedRequests: 8,
  /** A connection with nothing to watch and nothing asked for this long is closed. */
  idleMs: 30_000,
  /** Records or usage rows per chunk. */
  chunkSize: 500,
} as const;

const Seq = z.union([z.number().int().min(0).max(Number.MAX_SAFE_INTEGER), z.string().max(64)]).optional();
const RecordId = z.string().min(1).max(1024);
const Filters = z.array(z.string().max(4096)).max(32).optional();

export const StatusRequestSchema = z.strictObject({ type: z.literal('status'), seq: Seq });
export const DescribeRequestSchema = z.strictObject({ type: z.literal('describe'), seq: Seq, id: RecordId });
/** `filter`: containerd-syntax filters over id, state, parent, description, type (as records$ takes them). */
export const RecordsRequestSchema = z.strictObject({ type: z.literal('records'), seq: Seq, filter: Filters });
/** `filter` and `ageLimit` as diskUsage$ takes them. */
export const DiskUsageRequestSchema = z.strictObject({
  type: z.literal('diskUsage'),
  seq: Seq,
  filter: Filters,
  ageLimit: z.number().nonnegative().finite().optional(),
});
export const HistoryRequestSchema = z.strictObject({ type: z.literal('history'), seq: Seq, id: RecordId });
export const WatchRequestSchema = z.strictObject({ type: z.literal('watch'), seq: Seq });

export const ControlRequestSchema = z.discriminatedUnion('type', [
  StatusRequestSchema,
  DescribeRequestSchema,
  RecordsRequestSchema,
  DiskUsageRequestSchema,
  HistoryRequestSchema,
  WatchRequestSchema,
]);
export type ControlRequest = z.infer<typeof ControlRequestSchema>;
export type ControlRequestType = ControlRequest['type'];
export type RequestSeq = z.infer<typeof Seq>;

/**
 * Why a request or connection was refused: BAD_REQUEST (not JSON, not a known request), TOO_LARGE (a line over
 * the limit), BUSY (too many connections), OVERFLOW (a watcher that does not read), INTERNAL (the owner failed
 * to answer); or a CacheError code, as the owner's manager threw it.
 */
export const CONTROL_ERROR_CODES = [
  'BAD_REQUEST',
  'TOO_LARGE',
  'BUSY',
  'OVERFLOW',
  'INTERNAL',
  'LOCKED',
  'NOT_FOUND',
  'INVALID',
  'CLOSED',
  'NEEDS_RECOVERY',
] as const;
export type ControlErrorCode = (typeof CONTROL_ERROR_CODES)[number];

// Values on the wire: what JSON.stringify makes of the manager's objects (Dates become ISO strings).

const isoDate = z.iso.datetime().transform((s) => new Date(s));
const count = z.number().int().nonnegative();
const RecordStateSchema = z.enum(RECORD_STATES);

export const WireRecordViewSchema = z
  .object({
    id: z.string(),
    state: RecordStateSchema,
    refs: count,
    children: count,
    parent: z.string().optional(),
    size: z.number().nonnegative().optional(),
    metadata: z.object({
      description: z.string().optional(),
      recordType: z.string(),
      createdAt: isoDate,
      lastUsedAt: isoDate.optional(),
      usageCount: count,
      parent: z.string().optional(),
      key: z.string().optional(),
    }),
  })
  .transform((v) => ({
    id: v.id,
    state: v.state,
    refs: v.refs,
    children: v.children,
    parent: v.parent,
    size: v.size,
    metadata: {
      description: v.metadata.description,
      recordType: v.metadata.recordType,
      createdAt: v.metadata.createdAt,
      lastUsedAt: v.metadata.lastUsedAt,
      usageCount: v.metadata.usageCount,
      parent: v.metadata.parent,
      key: v.metadata.key,
    },
  }));

export const WireUsageInfoSchema = z.object({
  id: z.string(),
  mutable: z.boolean(),
  inUse: z.boolean(),
  size: z.number(),
  sizeError: z.string().optional(),
  createdAt: isoDate,
  lastUsedAt: isoDate.optional(),
  usageCount: count,
  parents: z.array(z.string()),
  description: z.string().optional(),
  recordType: z.string(),
  shared: z.boolean(),
  key: z.string().optional(),
  remoteSize: z.number().nonnegative().optional(),
});

export const WireTransitionSchema = z.object({
  id: z.string(),
  from: RecordStateSchema,
  to: RecordStateSchema,
  event: z.string(),
  at: z.number(),
});

/** `status`: the owner's cm.status(); its parts are checked where they are shown. */
export const WireStatusSchema = z.looseObject({
  status: z.string(),
  records: count,
  states: z.record(z.string(), count),
});

export const WireDeltaSchema = z.discriminatedUnion('type', [
  /** The records at the start of a watch, in chunks; `last` marks the final one. */
  z.object({ type: z.literal('snapshot'), records: z.array(WireRecordViewSchema), last: z.boolean() }),
  z.object({ type: z.literal('upsert'), record: WireRecordViewSchema }),
  z.object({ type: z.literal('remove'), id: z.string() }),
  z.object({ type: z.literal('transition'), transition: WireTransitionSchema }),
  /** The owner's event buffer for this watcher overflowed: `count` transitions were lost. */
  z.object({ type: z.literal('dropped'), count: count }),
]);
export type WireDelta = z.infer<typeof WireDeltaSchema>;

export const HelloSchema = z.object({
  type: z.literal('hello'),
  protocol: z.number().int(),
  pid: z.number().int(),
  root: z.string(),
});
export type Hello = z.infer<typeof HelloSchema>;

export const ControlMessageSchema = z.discriminatedUnion('type', [
  HelloSchema,
  z.object({ type: z.literal('result'), seq: Seq, value: z.unknown() }),
  z.object({ type: z.literal('chunk'), seq: Seq, items: z.array(z.unknown()) }),
  z.object({ type: z.literal('progress'), seq: Seq, done: count, total: count, bytes: z.number() }),
  z.object({ type: z.literal('end'), seq: Seq, count }),
  z.object({ type: z.literal('delta'), seq: Seq, delta: z.unknown() }),
  z.object({ type: z.literal('error'), seq: Seq, code: z.enum(CONTROL_ERROR_CODES), message: z.string() }),
]);
/** Any line the server sends; payloads (`value`, `items`, `delta`) are checked by the request that asked. */
export type ControlMessage = z.infer<typeof ControlMessageSchema>;
