// Snapshots: containerd's contract and its implementations.
export * from './snapshot/index.js';

// containerd's filter syntax, for any object.
export {
  parseFilters,
  matchFilter,
  FilterSyntaxError,
  isFilterSyntaxError,
  quoteFilterValue,
  type FilterExpr,
  type FilterConjunction,
  type FilterSelector,
  type FilterOperator,
  type FilterPattern,
  type FieldLookup,
  type FieldRule,
  type FilterParseOptions,
} from './filters/index.js';

// The cache manager.
export { CacheManager, openCacheManager, type CacheManagerOptions, type ManagerInspection } from './cache/manager.js';
export * from './cache/events.js';
export type { RecordView, RecordsDelta } from './cache/observe.js';
export type { TransitionReport } from './cache/record-table.js';
export type { InFlightOperation, OperationReport } from './cache/supervisor.js';
export type { PrunedRecord } from './cache/prune.js';
export * from './cache/policy/index.js';
export {
  parseSize,
  parseBytes,
  parseDuration,
  formatSize,
  formatDuration,
  UnitParseError,
  type DiskPercent,
} from './units/index.js';
export { CacheError, isCacheError, type CacheErrorCode } from './cache/errors.js';
export { ImmutableRef, MutableRef, type MountedRef, type MountOptions, type RecordMetadata } from './cache/refs.js';
export type { OpenOptions, NewOptions } from './cache/options.js';
export type { UsageInfo } from './cache/usage.js';
export type { ReconcileReport, ReconcileEntry, ReconcileAction } from './cache/reconcile.js';
export type { Inspector } from './cache/supervisor.js';
export {
  recordMachine,
  RECORD_STATES,
  type RecordState,
  type RecordContext,
  type RecordEvent,
} from '../machines/record.machine.js';
export { managerMachine, type ManagerEvent, type OperationEvent } from '../machines/manager.machine.js';

// Sizes.
export * from './size/index.js';

// The live inspector page: serveInspector(cm, options); its server and renderer load on the first call.
export { serveInspector } from './inspector/serve.js';
export type { InspectorOptions, InspectorServer, InspectorOptionField } from './inspector/server.js';
export type { InspectorSource } from './inspector/source.js';
