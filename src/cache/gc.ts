/**
 * Runs garbage collection in the background: once shortly after open, then
 * after releases, at most once per interval. Never two runs at once; close
 * waits for the run in progress.
 */
export class GcScheduler {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private lastRun = 0;
  private stopped = false;
  /** A release during a run: collect again once it ends, since that run may have missed it. */
  private pokedWhileRunning = false;

  constructor(
    private readonly run: () => Promise<void>,
    private readonly options: { interval: number; initialDelay: number; now?: () => number },
  ) {
    this.schedule(options.initialDelay);
  }

  /** A release happened: collect when the interval allows. */
  poke(): void {
    if (this.running) this.pokedWhileRunning = true;
    if (this.stopped || this.timer || this.running) return;
    this.schedule(Math.max(0, this.lastRun + this.options.interval - (this.options.now ?? Date.now)()));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  private schedule(delay: number): void {
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.stopped) return;
      this.lastRun = (this.options.now ?? Date.now)();
      this.running = this.run().finally(() => {
        this.running = undefined;
        if (this.pokedWhileRunning) {
          this.pokedWhileRunning = false;
          this.poke();
        }
      });
    }, delay);
    this.timer.unref();
  }
}
