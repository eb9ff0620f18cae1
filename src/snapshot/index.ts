export type {
  Info,
  Usage,
  Mount,
  SnapshotKind,
  SnapshotOptions,
  UsageOptions,
  WalkFn,
  Snapshotter,
  UndeletedDirectory,
} from './types.js';
export {
  SnapshotError,
  isSnapshotError,
  isSnapshotUnavailable,
  TRANSIENT_SNAPSHOT_ERROR_CODES,
  type SnapshotErrorCode,
} from './errors.js';
export { NativeSnapshotter, copyTree } from './native/native-snapshotter.js';
export { OverlaySnapshotter, probeOverlay } from './overlay/overlay-snapshotter.js';
export { mountAll, unmount, withMount, compactOverlayOptions, MountError } from './mount.js';
export { SnapshotterCore, SNAPSHOT_FILTER_FIELDS, infoLookup, type SnapshotDriver } from './core.js';
export { MAX_KEY_BYTES, MAX_LABEL_BYTES } from './validate.js';
export { snapshotRecordSchema, type SnapshotRecord } from './store.js';
export {
  ContainerdSnapshotter,
  containerdSnapshotterOptionsSchema,
  type ContainerdSnapshotterOptions,
} from './containerd/containerd-snapshotter.js';
export type { CachekitLease } from './containerd/leases.js';
