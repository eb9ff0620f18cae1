export { PolicyError, PlannerStateError, isPolicyError } from './errors.js';
export { PruneInfoSchema, parsePruneInfo, type PruneInfo } from './prune-info.js';
export {
  computeKeepBytes,
  explainKeepBytes,
  needsCacheTotal,
  needsDiskStats,
  type DiskStats,
  type KeepBytes,
  type KeepBytesLimit,
} from './keep-bytes.js';
export { diskStats } from './disk.js';
export {
  RECORD_TYPES,
  PROTECTED_RECORD_TYPES,
  recordTypeOf,
  parentsOf,
  type RecordType,
  type RecordSummary,
} from './record.js';
export {
  FILTER_FIELDS as PRUNE_FILTER_FIELDS,
  parseFilters as parsePruneFilters,
  matchesFilters as matchesPruneFilters,
  type FilterField as PruneFilterField,
  type FilterSelectors,
  recordLookup,
} from './filters.js';
export { EvictionQueue, evictionScores, orderForEviction } from './lru.js';
export { PrunePlanner, planPrune, type PruneDecision, type PrunePlannerInput, type PruneRule } from './planner.js';
export {
  defaultGcPolicy,
  defaultGcLimits,
  diskPercentAsBytes,
  DEFAULT_CAP_BYTES,
  RESERVED_SPACE_PERCENT,
  RESERVED_SPACE_MAX_BYTES,
  MIN_FREE_SPACE_PERCENT,
  MAX_USED_SPACE_PERCENT,
  MAX_USED_SPACE_MAX_BYTES,
  type DefaultGcLimits,
} from './defaults.js';
