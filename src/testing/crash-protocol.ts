import type { CallName } from './model.js';

/**
 * The messages between a model run and the child process that owns its root until it is killed.
 * Refs live in the child; each is named by the number of the request that made it.
 */

export interface ChildRequest {
  /** This request's number, > 0; a ref the call makes is kept under it. */
  readonly n: number;
  readonly call: CallName;
  /** The ref a ref call acts on, by the number of the request that made it. */
  readonly ref?: number;
  /** new: the immutable ref to build on. */
  readonly parent?: number;
  readonly retain?: boolean;
  /** get, getMutable, remove: the record. */
  readonly id?: string;
}

export interface ChildReply {
  /** The request answered; 0 for the child's first message, once the manager is open. */
  readonly n: number;
  readonly ok: boolean;
  readonly ready?: true;
  /** The id of the record a call made or took a ref on. */
  readonly id?: string;
  /** A refusal's CacheError code; absent for any other failure, which fails the run. */
  readonly code?: string;
  readonly message?: string;
}
