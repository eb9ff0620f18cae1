import { parseMermaid } from 'beautiful-mermaid';
import { describe, expect, it } from 'vitest';
import { and, createMachine, not, or, setup } from 'xstate';
import {
  DiagramIdCollisionError,
  declaredEventTypes,
  drawMachine,
  eventLabel,
  guardLabel,
  leafStatePaths,
  machineToMermaid,
  mermaidId,
  readMachine,
} from '../../src/diagram/index.js';

/** A machine that uses the definition features the record and manager machines do not. */
const sampleMachine = setup({
  guards: {
    ready: () => true,
    open: () => true,
    late: () => false,
  },
}).createMachine({
  id: 'sample',
  initial: 'waiting',
  on: { RESET: '.waiting', PING: {} },
  states: {
    waiting: {
      after: { 500: 'job' },
      on: {
        GO: { guard: and(['ready', not('late')]), target: 'job' },
        MAYBE: { guard: or(['open', 'late']), target: 'job' },
        INLINE: {
          guard: function isTuesday() {
            return false;
          },
          target: 'job',
        },
        '*': 'waiting',
      },
    },
    job: {
      initial: 'step',
      onDone: 'finished',
      states: {
        step: { on: { NEXT: 'last' } },
        last: { type: 'final' },
      },
    },
    finished: { type: 'final' },
  },
});

describe('labels', () => {
  it('spell out named, combined and inline guards', () => {
    const model = readMachine(sampleMachine);
    const labels = model.edges.filter((edge) => edge.from === 'waiting').map((edge) => edge.label);
    expect(labels).toContain('GO [ready && !late]');
    expect(labels).toContain('MAYBE [open || late]');
    expect(labels).toContain('INLINE [isTuesday]');
    expect(guardLabel(undefined)).toBeUndefined();
    expect(guardLabel({ type: 'named', params: {} })).toBe('named');
    expect(guardLabel(() => true)).toBe('guard');
  });

  it('name internal events by what they mean', () => {
    expect(eventLabel('xstate.done.actor.fetch')).toBe('done: fetch');
    expect(eventLabel('xstate.error.actor.fetch')).toBe('error: fetch');
    expect(eventLabel('xstate.after.500.sample.waiting')).toBe('after 500ms');
    expect(eventLabel('xstate.done.state.sample.job')).toBe('done');
    expect(eventLabel('*')).toBe('any event');
    expect(eventLabel('GO')).toBe('GO');
    const labels = readMachine(sampleMachine).edges.map((edge) => edge.label);
    expect(labels).toContain('after 500ms');
    expect(labels).toContain('done');
    expect(labels).toContain('any event');
  });
});

describe('machine model', () => {
  it('lists leaf states by dotted path and the declared events without internal ones', () => {
    expect(leafStatePaths(sampleMachine)).toEqual(['waiting', 'job.step', 'job.last', 'finished']);
    expect(declaredEventTypes(sampleMachine)).toEqual(['*', 'GO', 'INLINE', 'MAYBE', 'NEXT', 'PING', 'RESET']);
  });

  it('draws a root transition into the machine from every leaf, and a targetless one as handled everywhere', () => {
    const model = readMachine(sampleMachine);
    const reset = model.edges.filter((edge) => edge.label === 'RESET').map((edge) => edge.from);
    expect(reset).toEqual(['waiting', 'job.step', 'job.last', 'finished']);
    expect(model.anywhere).toEqual([{ label: 'PING' }]);
  });

  it('ends nested final states inside their box and top-level ones outside', () => {
    const mermaid = machineToMermaid(sampleMachine);
    expect(mermaid).toMatch(/state "job" as job \{[^}]*job_last --> \[\*\]\n {2}\}/);
    expect(mermaid).toContain('\n  finished --> [*]');
    expect(mermaid).toContain('job --> finished : done');
    const graph = parseMermaid(mermaid);
    expect(graph.subgraphs[0]?.nodeIds).toEqual(expect.arrayContaining(['job_step', 'job_last']));
  });

  it('draws the sample every way without error', () => {
    const drawn = drawMachine(sampleMachine, { highlight: 'job.step', counts: { 'job.step': 2 } });
    expect(drawn.mermaid).toContain('state "step (2) [current]" as job_step');
    expect(drawn.svg).toMatch(/<g class="node current" data-id="job_step"/);
    expect(drawn.ascii).toContain('job.step (2) (initial) [current]');
  });
});

describe('Mermaid ids', () => {
  it('replace dots and characters Mermaid ids cannot hold', () => {
    expect(mermaidId('committed.released')).toBe('committed_released');
    expect(mermaidId('a b:c')).toBe('a_b_c');
  });

  it('refuse two states that would share an id', () => {
    const clash = createMachine({
      id: 'clash',
      initial: 'a',
      states: { a: { initial: 'b', states: { b: {} } }, a_b: {} },
    });
    expect(() => machineToMermaid(clash)).toThrow(DiagramIdCollisionError);
    expect(() => machineToMermaid(clash)).toThrow(/states "a.b" and "a_b" both map to Mermaid id "a_b"/);
  });
});
