import { z } from 'zod';
import { CacheKey } from '../metadata/schema.js';
import { containerdSnapshotterOptionsSchema } from '../snapshot/containerd/options.js';
import type { Snapshotter } from '../snapshot/types.js';
import { CacheError } from './errors.js';

const isSnapshotter = (v: unknown): v is Snapshotter =>
  typeof v === 'object' &&
  v !== null &&
  ['stat', 'prepare', 'commit', 'remove', 'walk', 'mounts', 'view', 'usage', 'close'].every(
    (m) => typeof (v as Record<string, unknown>)[m] === 'function',
  );

export const OpenOptionsSchema = z.strictObject({
  root: z.string().min(1, 'is empty'),
  /** Defaults to the kind the root was created with, or 'native' for a new root. */
  snapshotter: z
    .union([
      z.literal('native'),
      z.literal('overlay'),
      z.strictObject({ containerd: containerdSnapshotterOptionsSchema }),
      z.custom<Snapshotter>(isSnapshotter, 'is not a Snapshotter'),
    ])
    .optional(),
  /** Opens metadata read-only, takes no lock and writes nothing: for inspecting a root a live process owns. */
  readOnly: z.boolean().default(false),
  /**
   * The way out of NEEDS_RECOVERY: 'rebuild-metadata' rebuilds missing records from the snapshots
   * (a damaged metadata file is moved aside first); 'lost+found' keeps the consistent records and
   * copies every orphan snapshot's content to `<root>/lost+found/` before removing it.
   */
  recover: z.enum(['rebuild-metadata', 'lost+found']).optional(),
});
export type RecoverMode = NonNullable<z.output<typeof OpenOptionsSchema>['recover']>;
export type OpenOptions = z.input<typeof OpenOptionsSchema>;
export type ResolvedOpenOptions = z.output<typeof OpenOptionsSchema>;

export const NewOptionsSchema = z.strictObject({
  description: z.string().max(4096, 'is longer than 4096 characters').optional(),
  recordType: z
    .string()
    .min(1, 'is empty')
    .max(256)
    .regex(/^[\x21-\x7e]+$/, 'has a character outside printable ASCII')
    .default('regular'),
  retain: z.boolean().default(false),
  /** The cache key the record is built under; at most one record holds a key (see `find`). */
  key: CacheKey.optional(),
});
export type NewOptions = z.input<typeof NewOptionsSchema>;

/** Parses with zod and turns every problem into one CacheError INVALID that lists them all. */
export function parseOptions<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const result = schema.safeParse(value ?? {});
  if (result.success) return result.data;
  const problems = result.error.issues.map((i) => `${i.path.length ? i.path.join('.') : what} ${i.message}`);
  throw new CacheError('INVALID', `invalid ${what}: ${problems.join('; ')}`);
}
