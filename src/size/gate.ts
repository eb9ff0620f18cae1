import { Observable, defer, type Subscription } from 'rxjs';
import { SizeError } from './errors.js';

export interface GateStats {
  limit: number;
  active: number;
  waiting: number;
}

/**
 * Bounds how many inner observables are subscribed at once. A subscriber waits
 * in FIFO order for a slot; unsubscribing while waiting just leaves the queue,
 * and completing, failing or unsubscribing while active frees the slot.
 */
export class ConcurrencyGate {
  readonly limit: number;
  private active = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(limit: number) {
    if (!Number.isInteger(limit) || limit < 1) {
      throw new SizeError('INVALID_OPTION', `concurrency must be a positive integer, got ${String(limit)}`);
    }
    this.limit = limit;
  }

  stats(): GateStats {
    return { limit: this.limit, active: this.active, waiting: this.waiting.length };
  }

  run$<T>(factory: () => Observable<T>): Observable<T> {
    return new Observable<T>((subscriber) => {
      let holding = false;
      let inner: Subscription | undefined;
      const release = (): void => {
        if (!holding) return;
        holding = false;
        this.active -= 1;
        this.pump();
      };
      const start = (): void => {
        holding = true;
        this.active += 1;
        inner = defer(factory).subscribe({
          next: (value) => subscriber.next(value),
          error: (error: unknown) => {
            release();
            subscriber.error(error);
          },
          complete: () => {
            release();
            subscriber.complete();
          },
        });
      };
      if (this.active < this.limit) start();
      else this.waiting.push(start);
      return () => {
        const index = this.waiting.indexOf(start);
        if (index >= 0) this.waiting.splice(index, 1);
        inner?.unsubscribe();
        release();
      };
    });
  }

  private pump(): void {
    while (this.active < this.limit && this.waiting.length > 0) this.waiting.shift()!();
  }
}
