// The public API of cachekit, as docs/api.md lists it. Nothing else is exported: tests and
// benchmarks reach internals by relative imports.

// Opening a cache, records and refs.
export {
  CacheManager,
  openCacheManager,
  type ManagerStatus,
  type RecordsOptions,
} from './cache/manager.js';
export type { CacheManagerOptions, Clock } from './cache/open.js';
export type { OpenOptions, NewOptions } from './cache/options.js';
export {
  ImmutableRef,
  MutableRef,
  type MountedRef,
  type MountOptions,
  type RecordMetadata,
} from './cache/refs.js';
export { CacheError, isCacheError, type CacheErrorCode } from './cache/errors.js';
export type { ReconcileReport, ReconcileEntry, ReconcileAction } from './cache/reconcile.js';

// Sharing the cache through an OCI registry.
export type { ExportOptions, ExportProgress } from './cache/exchange/export.js';
export type { RemoteOptions } from './cache/exchange/host.js';
export type { ImportOptions, ImportProgress } from './cache/exchange/import.js';
export {
  CACHE_CONFIG_MEDIA_TYPE,
  CACHE_ARTIFACT_TYPE,
  type CacheConfig,
  type ConfigRecord,
} from './cache/exchange/format.js';
export {
  RegistryError,
  isRegistryError,
  type RegistryErrorCode,
  type Credentials,
} from './remote/registry/index.js';
export { LayerError, isLayerError, type LayerErrorCode, type Compression } from './remote/layer/index.js';

// Disk usage, prune and GC.
export type { DiskUsageOptions, DiskUsageProgress } from './cache/disk-usage.js';
export type { UsageInfo } from './cache/usage.js';
export type { PrunedRecord } from './cache/prune.js';
export {
  computeKeepBytes,
  defaultGcPolicy,
  planPrune,
  PolicyError,
  isPolicyError,
  type DiskStats,
  type KeepBytes,
  type PruneDecision,
  type PruneInfo,
  type PrunePlannerInput,
  type PruneRule,
  type RecordSummary,
} from './cache/policy/index.js';
export {
  parseSize,
  parseBytes,
  parseDuration,
  formatSize,
  formatDuration,
  UnitParseError,
  type DiskPercent,
} from './units/index.js';

// Observing.
export * from './cache/events.js';
export type { RecordView, RecordsDelta } from './cache/observe.js';
export type { TransitionReport } from './cache/records/record-index.js';
export type { InFlightOperation, OperationReport, Inspector } from './cache/supervisor/host.js';
export {
  recordMachine,
  RECORD_STATES,
  type RecordState,
  type RecordContext,
  type RecordEvent,
  type RecordTag,
  type RecordStateMeta,
  type Refusal,
  type RefusalCode,
} from '../machines/record.machine.js';
export {
  supervisorMachine,
  type SupervisorContext,
  type SupervisorEvent,
  type OperationEvent,
} from '../machines/supervisor.machine.js';

// Snapshotters: containerd's contract and two implementations.
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
} from './snapshot/types.js';
export { SnapshotError, isSnapshotError, type SnapshotErrorCode } from './snapshot/errors.js';
export { NativeSnapshotter } from './snapshot/native/native-snapshotter.js';
export { OverlaySnapshotter } from './snapshot/overlay/overlay-snapshotter.js';
export { mountAll, unmount, withMount, MountError } from './snapshot/mount.js';
export {
  parseFilters,
  matchFilter,
  FilterSyntaxError,
  isFilterSyntaxError,
  type FilterExpr,
  type FieldLookup,
  type FilterParseOptions,
} from './filters/index.js';

// The live inspector page: serveInspector(cm, options); its server and renderer load on the first call.
export { serveInspector } from './inspector/serve.js';
export type { InspectorOptions, InspectorServer, InspectorOptionField } from './inspector/server.js';
export type { InspectorSource } from './inspector/source.js';
