import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  attempt,
  type CacheCommand,
  cacheCommands,
  type CacheModel,
  expectSameOutcome,
  pickOf,
  type RealCache,
  runCacheCommands,
} from '../../src/testing/index.js';
import { buildStep, buildStepFixed } from './fixtures/leaky-orchestrator.js';

/**
 * The kit catching a bug in an orchestrator: a user command runs the orchestrator's build step and
 * tells the model what the step should leave behind. The leaky step is found and shrunk.
 */

type Step = typeof buildStep;

class BuildStepCommand implements CacheCommand {
  constructor(
    readonly impl: Step,
    readonly pick: number,
    readonly fails: boolean,
  ) {}
  check(model: Readonly<CacheModel>) {
    return model.records.size > 0;
  }
  async run(model: CacheModel, real: RealCache) {
    const baseId = pickOf(model.ids(), this.pick)!;
    let layerId: string | undefined;
    const out = await attempt(real, () =>
      this.impl(real.cm, baseId, async (layer) => {
        layerId = layer.id;
        if (this.fails) throw new Error('the build step failed');
      }),
    );
    // What the step should do, in the model: get the base, build on it, commit or drop, let the base go.
    const base = model.get(baseId);
    if (!base.ok) return expectSameOutcome(`${this}`, base, out);
    const layer = model.newRecord(layerId!, { parent: base.value.handle });
    if (!layer.ok) throw new Error('model: new on a held base was refused');
    if (this.fails) model.release(layer.value.handle);
    else {
      const done = model.commit(layer.value.handle);
      if (done.ok && out.ok) real.refs.set(done.value.handle, out.value);
    }
    model.release(base.value.handle);
    // A failing step rejects with its own error, which `attempt` passes on; reaching here means it succeeded.
    if (!this.fails && !out.ok) throw new Error(`${this}: the step was refused: ${String(out.error)}`);
  }
  toString() {
    return `buildStep(record#${this.pick}, fails=${this.fails})`;
  }
}

/** attempt() lets non-cache errors through; the step's own failure is expected here, so it is caught. */
const tolerant =
  (impl: Step): Step =>
  (...args) =>
    impl(...args).catch((err: unknown) => {
      if (err instanceof Error && err.message === 'the build step failed') return undefined as never;
      throw err;
    });

const commandsWith = (impl: Step) =>
  cacheCommands({
    maxCommands: 8,
    weights: { prune: 0, reopen: 0, getMutable: 0, remove: 0, clone: 0 },
    extra: [
      {
        arbitrary: fc
          .tuple(fc.nat({ max: 7 }), fc.boolean())
          .map(([p, f]) => new BuildStepCommand(tolerant(impl), p, f)),
        weight: 3,
      },
    ],
  });

describe('the kit finds a ref leak in an orchestrator', () => {
  it('finds the leak on the error path and shrinks it to a short sequence', async () => {
    const result = await fc.check(
      fc.asyncProperty(commandsWith(buildStep), (cmds) => runCacheCommands(cmds)),
      { numRuns: 100, seed: 42 },
    );
    expect(result.failed).toBe(true);
    const shrunk = [...(result.counterexample![0] as Iterable<CacheCommand>)].map(String);
    console.log(`shrunk counterexample: ${shrunk.join(', ')}\n${String(result.errorInstance)}`);
    // The leaked base ref: the cache counts one ref more on the base than the model, which holds the commit's.
    expect(String(result.errorInstance)).toMatch(
      /the cache has committed\.held, 2 refs.*the model committed\.held, 1 refs/,
    );
    expect(shrunk.at(-1)).toMatch(/buildStep\(.*fails=true\)/);
    expect(shrunk.length).toBeLessThanOrEqual(3);
  }, 120_000);

  it('passes with the fixed step', async () => {
    await fc.assert(
      fc.asyncProperty(commandsWith(buildStepFixed), (cmds) => runCacheCommands(cmds)),
      { numRuns: 40, seed: 42 },
    );
  }, 120_000);
});
