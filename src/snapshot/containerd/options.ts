import { z } from 'zod';
import { DEFAULT_TRANSIENT_LEASE_TTL_MS } from './leases.js';

/** containerd's identifier rule (namespaces, lease ids): alphanumerics joined by single `.`, `_` or `-`. */
const IDENTIFIER = /^[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*$/;

export const containerdSnapshotterOptionsSchema = z.strictObject({
  /** The daemon's gRPC socket (`/run/containerd/containerd.sock`) or a gRPC target (`unix:///...`). */
  address: z.string().min(1),
  namespace: z.string().max(76).regex(IDENTIFIER, 'must be a containerd identifier (e.g. "cachekit")'),
  /** containerd's snapshotter plugin name, e.g. `overlayfs` or `native`. */
  snapshotter: z.string().max(64).regex(IDENTIFIER, 'must be a snapshotter plugin name (e.g. "overlayfs")'),
  /** Deadline of each ordinary call. */
  timeoutMs: z.number().int().positive().default(30_000),
  /** Deadline of a call that runs containerd's GC (remove, cleanup), which takes the daemon's global lock. */
  gcTimeoutMs: z.number().int().positive().default(120_000),
  /** How long a transient lease protects a snapshot being created (see leases.ts). */
  transientLeaseTtlMs: z.number().int().positive().default(DEFAULT_TRANSIENT_LEASE_TTL_MS),
});

export type ContainerdSnapshotterOptions = z.input<typeof containerdSnapshotterOptionsSchema>;
export type ResolvedContainerdOptions = z.output<typeof containerdSnapshotterOptionsSchema>;
