import type { Usage } from '../snapshot/types.js';
import type { WalkFailure } from './errors.js';
import type { HardLink, WalkOptions } from './walk-sync.js';

/**
 * Main thread → worker: walk `paths` (summed together, as one du -s over them), polling `control`
 * before every filesystem call. Fan-out heads and pieces set `options`.
 */
export interface WalkRequest {
  id: number;
  paths: string[];
  control: SharedArrayBuffer;
  options: WalkOptions;
}

/** What a finished walk hands back: the usage, plus the fan-out extras the request asked for. */
export interface WalkResult {
  usage: Usage;
  subdirs?: string[];
  links?: HardLink[];
}

/** Worker → main thread. `ready` is sent once, after the worker module has loaded. */
export type WalkReply =
  | { id: number; kind: 'ready' }
  | { id: number; kind: 'done'; result: WalkResult }
  | { id: number; kind: 'failed'; failure: WalkFailure }
  | { id: number; kind: 'aborted' };
