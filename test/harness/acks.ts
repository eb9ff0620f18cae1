/**
 * The acknowledgement log a killed workload leaves behind, and what it lets the checker expect.
 * Lines ending in `-begin` are written (and fsynced) before an operation that may take a record
 * away starts, so a kill in the middle of it excuses that record's absence and nothing else.
 */

export type Ack =
  | { op: 'open'; lane: -1; ids: string[] }
  | { op: 'new'; lane: number; id: string; parent: string | null; retain: boolean }
  | { op: 'commit'; lane: number; id: string; hash: string }
  | { op: 'finalize' | 'release' | 'get' | 'clone' | 'getMutable'; lane: number; id: string }
  | { op: 'remove-begin' | 'remove-end' | 'thaw-begin' | 'thaw-end'; lane: number; id: string }
  | { op: 'prune-begin'; lane: number }
  | { op: 'prune-end'; lane: number; ids: string[] }
  | { op: 'fail'; lane: number; what: string; id?: string; code: string }
  | { op: 'untyped'; lane: number; what: string; id?: string; message: string };

/** Record states whose content can no longer change (BuildKit's frozen and committed records). */
const IMMUTABLE = /^(frozen|committed)\b/;

/** What survives across kill cycles on one root: content each acknowledged commit must still have. */
export class Expectations {
  /** id -> tree hash of an acknowledged commit that nothing acknowledged took away since. */
  readonly content = new Map<string, string>();
  /** id -> parent given at creation. */
  readonly parents = new Map<string, string | null>();
  /** Records an interrupted removal, thaw or prune may have taken; absent is fine, changed is not. */
  readonly maybeGone = new Map<string, string>();
  /** Operations that failed with something other than a CacheError. */
  readonly untyped: Ack[] = [];

  /** Applies one cycle's log; a trailing partial line (the kill landed mid-write) is ignored. */
  apply(log: string): number {
    const pendingRemovals = new Map<string, string | undefined>();
    /** Lanes with a prune in flight: records one has not reported yet may still go. */
    const pruning = new Set<number>();
    let count = 0;
    this.maybeGone.clear();
    for (const line of log.split('\n')) {
      let ack: Ack;
      try {
        ack = JSON.parse(line) as Ack;
      } catch {
        continue;
      }
      count++;
      switch (ack.op) {
        case 'new':
          this.parents.set(ack.id, ack.parent);
          break;
        case 'commit':
          this.content.set(ack.id, ack.hash);
          break;
        case 'remove-begin':
        case 'thaw-begin':
          pendingRemovals.set(ack.id, this.content.get(ack.id));
          this.content.delete(ack.id);
          break;
        case 'remove-end':
        case 'thaw-end':
          pendingRemovals.delete(ack.id);
          break;
        case 'fail':
          if (ack.id !== undefined && pendingRemovals.has(ack.id)) {
            const hash = pendingRemovals.get(ack.id);
            // NOT_FOUND says the record is gone (a prune in another lane took it first): nothing to restore.
            const stillThere = ack.code !== 'NOT_FOUND';
            if (hash !== undefined && stillThere && (ack.what === 'remove' || ack.what === 'thaw'))
              this.content.set(ack.id, hash);
            pendingRemovals.delete(ack.id);
          }
          // A failed prune may have removed some records before it stopped.
          if (ack.what === 'prune') {
            pruning.delete(ack.lane);
            for (const [id, hash] of this.content) pendingRemovals.set(id, hash);
            this.content.clear();
          }
          break;
        case 'prune-begin':
          pruning.add(ack.lane);
          break;
        case 'prune-end':
          pruning.delete(ack.lane);
          for (const id of ack.ids) {
            this.content.delete(id);
            // A removal or thaw still in flight on another lane can no longer bring it back.
            if (pendingRemovals.has(id)) pendingRemovals.set(id, undefined);
          }
          break;
        case 'untyped':
          this.untyped.push(ack);
          break;
      }
    }
    for (const [id, hash] of pendingRemovals) if (hash !== undefined) this.maybeGone.set(id, hash);
    if (pruning.size > 0)
      for (const [id, hash] of this.content) {
        this.maybeGone.set(id, hash);
        this.content.delete(id);
      }
    return count;
  }

  /**
   * After the checks: records confirmed gone leave the model; maybe-gone ones still there as the
   * same immutable content stay in it. One an interrupted thaw made mutable again (a retained record
   * outlives its process as an idle mutable) holds no promised content any more.
   */
  settle(present: Map<string, string>): void {
    for (const [id, hash] of this.maybeGone) {
      const state = present.get(id);
      if (state !== undefined && IMMUTABLE.test(state)) this.content.set(id, hash);
    }
    this.maybeGone.clear();
    for (const id of [...this.content.keys()]) if (!present.has(id)) this.content.delete(id);
    for (const id of [...this.parents.keys()]) if (!present.has(id)) this.parents.delete(id);
  }
}
