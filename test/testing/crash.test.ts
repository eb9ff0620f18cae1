import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type CacheCommand,
  type CacheModel,
  type CallSpec,
  CrashCommand,
  cacheCommands,
  expectMatchesModel,
  type RealCache,
  runCacheCommands,
} from '../../src/testing/index.js';
// The kit's runs open the built-in local kinds; containerd needs a daemon the kit does not start.
import { LOCAL_SNAPSHOTTERS as SNAPSHOTTERS } from '../cache/helpers.js';

/**
 * The crash command: a child process opens the run's root, makes calls, and is killed with SIGKILL
 * while it holds refs; the run opens the root again and the model expects what BuildKit does after a
 * crash. Few runs: each crash starts a process.
 */

const call = (c: CallSpec['call'], pick = 0, more: Partial<CallSpec> = {}): CallSpec => ({
  call: c,
  pick,
  retain: false,
  parentPick: null,
  ...more,
});

/** What the records must be after the kill, by BuildKit's rules as its users know them. */
class ExpectAfterCrash implements CacheCommand {
  states: Record<string, string> = {};
  check() {
    return true;
  }
  async run(model: CacheModel, real: RealCache) {
    const state = (id: string) => {
      try {
        const d = real.cm.describe(id);
        return `${d.state}, ${d.refs} refs, ${d.children} children`;
      } catch {
        return 'gone';
      }
    };
    for (const [name, id] of ['unretained', 'retained', 'frozen', 'committed', 'child'].map(
      (n, i) => [n, model.ids()[i]!] as const,
    ))
      this.states[name] = state(id);
    expectMatchesModel(real, model);
  }
  toString() {
    return 'expect after crash';
  }
}

for (const { kind, skip } of SNAPSHOTTERS) if (skip) console.log(`${kind} crash test skipped: ${skip}`);

describe('the crash command', () => {
  for (const { kind, skip } of SNAPSHOTTERS)
    it.skipIf(skip !== undefined)(
      `${kind}: after kill -9 of the owner, held refs are released, unretained mutables gone, commits kept`,
      async () => {
        const expectations = new ExpectAfterCrash();
        await runCacheCommands(
          [
            new CrashCommand([
              call('new'), // an unretained mutable record, held
              call('new', 0, { retain: true }), // a retained one, held
              call('new'),
              call('commit', 2), // frozen (lazily committed), held
              call('new'),
              call('commit', 2),
              call('finalize', 1), // committed, held
              call('new', 0, { parentPick: 1 }), // an unretained child of the committed record, held
            ]),
            expectations,
          ],
          { kind: kind as 'native' | 'overlay' },
        );
        expect(expectations.states).toEqual({
          unretained: 'gone',
          retained: 'mutable.idle, 0 refs, 0 children',
          frozen: 'frozen.released, 0 refs, 0 children',
          committed: 'committed.released, 0 refs, 0 children',
          child: 'gone',
        });
      },
      120_000,
    );

  it('random runs with crashes: the cache after each crash is what the model expects', async () => {
    let crashes = 0;
    await fc.assert(
      fc.asyncProperty(
        cacheCommands({
          maxCommands: 6,
          weights: { crash: 4, reopen: 0 },
          crash: { maxCalls: 5, maxCrashes: 1, weights: { new: 3, commit: 2 } },
        }),
        async (cmds) => {
          await runCacheCommands(cmds);
          // After the run, the commands print only those that ran.
          crashes += String(cmds).split('crash[').length - 1;
        },
      ),
      { numRuns: 12, seed: 7 },
    );
    console.log(`crash runs: 12 runs, ${crashes} kill -9 crashes`);
    expect(crashes).toBeGreaterThanOrEqual(6);
  }, 240_000);

  it('rejects limits that are not counts', () => {
    expect(() => cacheCommands({ crash: { maxCalls: -1 } })).toThrow(/maxCalls/);
    expect(() => cacheCommands({ crash: { maxCrashes: 1.5 } })).toThrow(/maxCrashes/);
  });
});
