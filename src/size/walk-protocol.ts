import type { Usage } from '../snapshot/types.js';
import type { WalkFailure } from './errors.js';

/** Main thread → worker: walk `path`, polling `control` before every filesystem call. */
export interface WalkRequest {
  id: number;
  path: string;
  control: SharedArrayBuffer;
}

/** Worker → main thread. `ready` is sent once, after the worker module has loaded. */
export type WalkReply =
  | { id: number; kind: 'ready' }
  | { id: number; kind: 'done'; usage: Usage }
  | { id: number; kind: 'failed'; failure: WalkFailure }
  | { id: number; kind: 'aborted' };
