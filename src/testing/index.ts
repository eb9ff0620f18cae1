// cachekit/testing: a kit for testing code that embeds cachekit. Needs fast-check (a peer dependency).
// Nothing in cachekit imports this folder; it reads the engine and the record machine like any user.

export { manualClock, type ManualClock } from './clock.js';
export { testCache, type TestCache, type TestCacheOptions } from './test-cache.js';
export {
  cacheModel,
  type CacheModel,
  CALL_NAMES,
  type CallName,
  type ModelOutcome,
  type ModelRef,
} from './model.js';
export {
  stepRecord,
  MODEL_STEPS,
  IO_MODEL_STATES,
  UNHELD_MODEL_STATES,
  type ModelRecord,
  type ModelRefusalCode,
  type ModelState,
  type ModelStep,
  type StepResult,
} from './record-rules.js';
export {
  cacheCommands,
  cacheCommandArbitraries,
  pickOf,
  CACHE_COMMAND_NAMES,
  type CacheCommand,
  type CacheCommandName,
  type CacheCommandsOptions,
} from './commands.js';
export {
  attempt,
  outcomeOf,
  expectMatchesModel,
  expectSameOutcome,
  outcomeMismatch,
  ModelMismatchError,
  type RealCache,
  type RealOutcome,
} from './real-cache.js';
export { BatchCommand, batchArbitrary, linearize, type Linearization } from './batch.js';
export { CrashCommand, crashArbitrary, type CrashOptions } from './crash.js';
export type { CrashOwner } from './crash-owner.js';
export type { ChildReply, ChildRequest } from './crash-protocol.js';
export {
  bindCall,
  callOnModel,
  callSpecArbitrary,
  startCall,
  type BoundCall,
  type CallSpec,
} from './calls.js';
export { runCacheCommands, type CacheRunOptions } from './run.js';
export { scheduledSnapshotter } from './scheduled-snapshotter.js';
export {
  transitionCoverage,
  type CoverageReport,
  type CoveredTransition,
  type TransitionCoverage,
} from './coverage.js';
export { recordTransitions, reachableSnapshots, transitionKey, type RecordTransition } from './transitions.js';
export {
  faultySnapshotter,
  SNAPSHOTTER_METHODS,
  type Fault,
  type FaultPlan,
  type FaultRule,
  type FaultTiming,
  type FaultySnapshotter,
  type InjectedFault,
  type SnapshotCall,
  type SnapshotterMethod,
} from './faulty-snapshotter.js';
