export type { Info, Usage, Mount, SnapshotKind, SnapshotOptions, UsageOptions, WalkFn, Snapshotter } from './snapshot/types.js';
export { SnapshotError, isSnapshotError, type SnapshotErrorCode } from './snapshot/errors.js';
export { treeUsage, type TreeUsageOptions } from './size/tree-usage.js';
