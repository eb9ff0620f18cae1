export { treeUsage, type TreeUsageOptions } from './tree-usage.js';
export {
  SizeWorkerPool,
  defaultSizePool,
  assertWalkablePath,
  type SizePoolOptions,
  type SizeJobOptions,
  type SizePoolStats,
} from './pool.js';
export { WalkProbe, type WalkProbeSnapshot } from './control-block.js';
export {
  SizeError,
  SizeItemError,
  SizeWalkError,
  isSizeError,
  isSizeWalkError,
  type SizeErrorCode,
} from './errors.js';
export { sizeOf$, type SizeOfOptions } from './size-stream.js';
export { ConcurrencyGate, type GateStats } from './gate.js';
export {
  SizeService,
  type PathSource,
  type Measured,
  type UsageSource,
  type SizeItem,
  type SizeServiceOptions,
  type SizeServiceStats,
  type SizeManyOptions,
  type SizeProgress,
  type SizeEvent,
  type SizeResultEvent,
  type SizeProgressEvent,
} from './size-service.js';
export { startWorker, workerScript, type WorkerScript } from './worker-script.js';
