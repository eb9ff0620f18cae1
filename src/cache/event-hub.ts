import { Observable, type Subscriber } from 'rxjs';
import type { CacheEvent } from './events.js';

export interface EventHubOptions {
  /** Events a subscriber may have waiting before the oldest are dropped. */
  bufferSize: number;
  /** Events delivered to one subscriber per turn of the event loop. */
  batchSize: number;
  /** When false, nothing is emitted and subscribers complete at once. */
  enabled?: boolean;
}

interface Listener {
  subscriber: Subscriber<CacheEvent>;
  queue: CacheEvent[];
  head: number;
  dropped: number;
  scheduled: boolean;
  /** How long the last delivery took: a slow subscriber waits twice as long before the next, so it gets at most a third of the loop. */
  lastCost: number;
}

/**
 * A hot event source in which each subscriber has its own bounded queue,
 * drained in later turns of the event loop. The engine only appends, so a
 * slow subscriber can neither stall it nor grow memory without bound: on
 * overflow it loses its oldest events and is then told how many.
 */
export class EventHub {
  private readonly listeners = new Set<Listener>();
  private completed = false;
  readonly events$: Observable<CacheEvent>;

  constructor(private readonly options: EventHubOptions = { bufferSize: 4096, batchSize: 256 }) {
    this.events$ = new Observable<CacheEvent>((subscriber) => {
      if (this.completed || options.enabled === false) {
        subscriber.complete();
        return;
      }
      const listener: Listener = {
        subscriber,
        queue: [...this.replay],
        head: 0,
        dropped: 0,
        scheduled: false,
        lastCost: 0,
      };
      this.listeners.add(listener);
      if (listener.queue.length > 0) this.schedule(listener);
      return () => this.listeners.delete(listener);
    });
  }

  /** Events every new subscriber receives first (the start-up repairs, which happen before anyone can subscribe). */
  private replay: readonly CacheEvent[] = [];

  setReplay(events: readonly CacheEvent[]): void {
    this.replay = events;
  }

  /** True when someone listens: callers skip building events otherwise. */
  get active(): boolean {
    return this.listeners.size > 0;
  }

  emit(event: CacheEvent): void {
    for (const l of this.listeners) {
      l.queue.push(event);
      if (l.queue.length - l.head > this.options.bufferSize) {
        l.head++;
        l.dropped++;
      }
      this.schedule(l);
    }
  }

  /** Builds the event only when someone listens. */
  emitLazy(build: () => CacheEvent): void {
    if (this.listeners.size > 0) this.emit(build());
  }

  complete(): void {
    this.completed = true;
    for (const l of this.listeners) {
      this.drain(l, Infinity);
      l.subscriber.complete();
    }
    this.listeners.clear();
  }

  private schedule(l: Listener): void {
    if (l.scheduled) return;
    l.scheduled = true;
    const deliver = () => {
      l.scheduled = false;
      if (!this.listeners.has(l)) return;
      const started = performance.now();
      this.drain(l, this.options.batchSize);
      l.lastCost = performance.now() - started;
      if (l.queue.length > l.head) this.schedule(l);
    };
    if (l.lastCost > 1) setTimeout(deliver, 2 * l.lastCost).unref();
    else setImmediate(deliver);
  }

  private drain(l: Listener, max: number): void {
    if (l.dropped > 0) {
      const count = l.dropped;
      l.dropped = 0;
      l.subscriber.next({ type: 'events.dropped', count, at: Date.now() });
    }
    // A time budget as well as a count: a slow handler gets fewer events per turn, and overflow does the rest.
    const deadline = max === Infinity ? Infinity : performance.now() + 4;
    let n = 0;
    while (l.head < l.queue.length && n < max && !l.subscriber.closed && performance.now() < deadline) {
      const event = l.queue[l.head++]!;
      n++;
      l.subscriber.next(event);
    }
    if (l.head === l.queue.length) {
      l.queue.length = 0;
      l.head = 0;
    } else if (l.head > 1024 && l.head * 2 > l.queue.length) {
      l.queue.splice(0, l.head);
      l.head = 0;
    }
  }
}
