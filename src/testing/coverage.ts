import type { Observable } from 'rxjs';
import type { CacheEvent } from '../cache/events.js';
import { type RecordTransition, recordTransitions, transitionKey } from './transitions.js';

/** One transition of the record machine, with how often a run took it. */
export interface CoveredTransition extends RecordTransition {
  readonly count: number;
}

/** What a run exercised of the record machine, at the moment `report()` was called. */
export interface CoverageReport {
  readonly covered: readonly CoveredTransition[];
  readonly missed: readonly RecordTransition[];
  /** Transitions seen on events$ that the statechart does not have (restores from metadata, say). */
  readonly unknown: readonly CoveredTransition[];
  /** Covered share of the machine's transitions, 0 to 1. */
  readonly ratio: number;
  /** The whole report as a fixed-width table, missed transitions first. */
  table(): string;
}

/** A running count of transitions; `stop()` unsubscribes from every stream it watches. */
export interface TransitionCoverage {
  /** Watches one more manager's events (a reopened one, say); counts add up. */
  watch(events$: Observable<CacheEvent>): void;
  /** Counts one transition as if it had been seen on events$. */
  record(t: RecordTransition): void;
  report(): CoverageReport;
  stop(): void;
}

/**
 * Counts which of the record machine's transitions the managers' `events$` show. Subscribe before
 * the run starts: events$ is hot, and a transition before the subscription is not seen.
 */
export function transitionCoverage(...streams: Observable<CacheEvent>[]): TransitionCoverage {
  const all = recordTransitions();
  const known = new Set(all.map(transitionKey));
  const counts = new Map<string, CoveredTransition>();
  const subscriptions: { unsubscribe(): void }[] = [];
  const coverage: TransitionCoverage = {
    watch(events$) {
      subscriptions.push(
        events$.subscribe((e) => {
          if (e.type === 'record.transition') coverage.record({ from: e.from, to: e.to, event: e.event });
        }),
      );
    },
    record(t) {
      const key = transitionKey(t);
      const seen = counts.get(key);
      counts.set(key, { from: t.from, to: t.to, event: t.event, count: (seen?.count ?? 0) + 1 });
    },
    report() {
      const covered = all.flatMap((t) => counts.get(transitionKey(t)) ?? []);
      const missed = all.filter((t) => !counts.has(transitionKey(t)));
      const unknown = [...counts.entries()].filter(([k]) => !known.has(k)).map(([, t]) => t);
      const ratio = all.length === 0 ? 1 : covered.length / all.length;
      return { covered, missed, unknown, ratio, table: () => coverageTable(covered, missed, unknown, ratio) };
    },
    stop() {
      for (const s of subscriptions.splice(0)) s.unsubscribe();
    },
  };
  for (const s of streams) coverage.watch(s);
  return coverage;
}

function coverageTable(
  covered: readonly CoveredTransition[],
  missed: readonly RecordTransition[],
  unknown: readonly CoveredTransition[],
  ratio: number,
): string {
  const rows: [string, string, string, string][] = [
    ...missed.map((t): [string, string, string, string] => [t.from, t.event, t.to, 'never']),
    ...covered.map((t): [string, string, string, string] => [t.from, t.event, t.to, String(t.count)]),
    ...unknown.map((t): [string, string, string, string] => [t.from, t.event, t.to, `${t.count} (not in machine)`]),
  ];
  const head: [string, string, string, string] = ['from', 'event', 'to', 'taken'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  const total = covered.length + missed.length;
  return [
    line(head),
    line(widths.map((w) => '-'.repeat(w))),
    ...rows.map(line),
    `${covered.length}/${total} transitions covered (${(ratio * 100).toFixed(1)} %)`,
  ].join('\n');
}
