import { Observable } from 'rxjs';
import type { Usage } from '../snapshot/types.js';
import type { WalkProbe } from './control-block.js';
import { defaultSizePool, type SizeWorkerPool } from './pool.js';

export interface SizeOfOptions {
  /** Aborting errors the observable with the signal's reason and stops the walk. */
  signal?: AbortSignal;
  pool?: SizeWorkerPool;
  probe?: WalkProbe;
}

/**
 * Cold observable of one tree's du-compatible usage: each subscription starts
 * its own walk on the pool, emits once and completes. Unsubscribing stops the
 * walk before its next filesystem call.
 */
export function sizeOf$(path: string, options: SizeOfOptions = {}): Observable<Usage> {
  return new Observable<Usage>((subscriber) => {
    const outer = options.signal;
    if (outer?.aborted) {
      subscriber.error(outer.reason);
      return;
    }
    const controller = new AbortController();
    const forward = (): void => controller.abort(outer?.reason);
    outer?.addEventListener('abort', forward, { once: true });
    const pool = options.pool ?? defaultSizePool();
    pool.run(path, { signal: controller.signal, ...(options.probe ? { probe: options.probe } : {}) }).then(
      (usage) => {
        subscriber.next(usage);
        subscriber.complete();
      },
      (error: unknown) => subscriber.error(error),
    );
    return () => {
      outer?.removeEventListener('abort', forward);
      controller.abort();
    };
  });
}
