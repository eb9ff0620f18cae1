/**
 * Who waits on each record's pull, so that one caller giving up does not cancel a pull another caller
 * still waits for: the pull is aborted when every waiter that could cancel has, and never while one
 * that cannot (a mount, a `new` on top) is waiting.
 */
export class PullSignals {
  private readonly entries = new Map<string, { controller: AbortController; waiters: number; steadfast: number }>();

  private entry(id: string) {
    let entry = this.entries.get(id);
    if (!entry) {
      entry = { controller: new AbortController(), waiters: 0, steadfast: 0 };
      this.entries.set(id, entry);
    }
    return entry;
  }

  /** The signal the pull of `id` runs under. */
  signal(id: string): AbortSignal {
    return this.entry(id).controller.signal;
  }

  /** Registers a waiter; call the returned function when it stops waiting (done or not). */
  enter(id: string, signal?: AbortSignal): () => void {
    const entry = this.entry(id);
    entry.waiters++;
    if (!signal) entry.steadfast++;
    let left = false;
    const leave = () => {
      if (left) return;
      left = true;
      entry.waiters--;
      if (!signal) entry.steadfast--;
    };
    const onAbort = () => {
      leave();
      if (entry.waiters === 0 && entry.steadfast === 0) entry.controller.abort(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    return () => {
      signal?.removeEventListener('abort', onAbort);
      leave();
    };
  }

  /** Downloads running now, and those waiting for a slot: a long chain never opens one request per layer. */
  private running = 0;
  private readonly queue: (() => void)[] = [];

  /** Runs `fn` once fewer than `limit` downloads run; a download is streamed to a file, so memory stays flat. */
  async download<T>(fn: () => Promise<T>, limit = 4): Promise<T> {
    if (this.running >= limit) await new Promise<void>((resolve) => this.queue.push(resolve));
    this.running++;
    try {
      return await fn();
    } finally {
      this.running--;
      this.queue.shift()?.();
    }
  }

  /** The pull of `id` ended: the next one gets a fresh signal. */
  finished(id: string): void {
    this.entries.delete(id);
  }
}
