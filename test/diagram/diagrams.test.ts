import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parseMermaid } from 'beautiful-mermaid';
import { describe, expect, it } from 'vitest';
import { supervisorMachine } from '../../machines/supervisor.machine.js';
import { RECORD_STATES, recordMachine } from '../../machines/record.machine.js';
import {
  DIAGRAM_DIR,
  DiagramOptionError,
  HIGHLIGHT_CLASS,
  MACHINE_DIAGRAMS,
  declaredEventTypes,
  generateDiagramFiles,
  leafStatePaths,
  machineToMermaid,
  mermaidId,
  renderDiagram,
  staleDiagramFiles,
} from '../../src/diagram/index.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const generated = generateDiagramFiles();

/** Edge labels of a Mermaid text as beautiful-mermaid reads them, one entry per label line. */
function edgeLabelLines(mermaid: string): string[] {
  return parseMermaid(mermaid).edges.flatMap((edge) => (edge.label ?? '').split(/\n|<br>/));
}

/** Event names in the labels: the part before a guard's ' [', skipping invoke results and eventless arrows. */
function eventsInLabels(mermaid: string): Set<string> {
  return new Set(
    edgeLabelLines(mermaid)
      .map((line) => line.split(' [')[0]?.trim() ?? '')
      .filter((event) => event !== '' && !event.startsWith('[') && !event.includes(':')),
  );
}

describe('committed docs/machines files', () => {
  it('equal what the machines generate now', async () => {
    const stale = await staleDiagramFiles(join(repoRoot, DIAGRAM_DIR), generated);
    const listing = stale.map(({ file, reason }) => `${DIAGRAM_DIR}/${file} (${reason})`).join(', ');
    expect(stale, `stale machine diagrams: ${listing}; run \`npm run diagrams\` and commit the result`).toEqual([]);
  });

  it('cover every machine with .mmd, .svg and .txt, plus the README index', () => {
    const expected = MACHINE_DIAGRAMS.flatMap(({ name }) => [`${name}.mmd`, `${name}.svg`, `${name}.txt`]);
    expect([...generated.keys()].sort()).toEqual([...expected, 'README.md', 'record-rules.md'].sort());
    const readme = generated.get('README.md') ?? '';
    for (const { name } of MACHINE_DIAGRAMS) {
      for (const ext of ['svg', 'txt', 'mmd']) expect(readme).toContain(`(${name}.${ext})`);
    }
  });

  it('are reported missing or different by the staleness check', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cachekit-diagrams-'));
    try {
      for (const [file, content] of generated) await writeFile(join(dir, file), content);
      expect(await staleDiagramFiles(dir, generated)).toEqual([]);
      await writeFile(join(dir, 'record.mmd'), `${generated.get('record.mmd') ?? ''}  %% hand edit\n`);
      await rm(join(dir, 'supervisor.svg'));
      expect(await staleDiagramFiles(dir, generated)).toEqual([
        { file: 'record.mmd', reason: 'differs' },
        { file: 'supervisor.svg', reason: 'missing' },
      ]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('pass `npm run diagrams -- --check`', async () => {
    const tsx = join(repoRoot, 'node_modules/.bin/tsx');
    const { stdout } = await promisify(execFile)(tsx, ['scripts/diagrams.ts', '--check'], { cwd: repoRoot });
    expect(stdout).toContain('up to date');
  });
});

describe.each(MACHINE_DIAGRAMS.map((spec) => [spec.name, spec] as const))('the %s diagram', (_name, spec) => {
  const mermaid = machineToMermaid(spec.machine);
  const graph = parseMermaid(mermaid);

  it('has a node for every leaf state, as the renderer reads it', () => {
    const leaves = leafStatePaths(spec.machine);
    expect(leaves.length).toBeGreaterThan(0);
    for (const leaf of leaves) {
      const node = graph.nodes.get(mermaidId(leaf));
      expect(node, `state ${leaf}`).toBeDefined();
      expect(node?.label).toBe(leaf.split('.').at(-1));
    }
  });

  it('labels an arrow with every event the machine declares', () => {
    const declared = declaredEventTypes(spec.machine);
    expect(declared.length).toBeGreaterThan(0);
    const drawn = eventsInLabels(mermaid);
    const handledEverywhere = graph.nodes.get(mermaidId(`${spec.machine.id}_anywhere`))?.label ?? '';
    for (const event of declared) {
      expect(drawn.has(event) || handledEverywhere.includes(event), `event ${event}`).toBe(true);
    }
  });

  it('draws the flat layout with the same leaves and events', () => {
    const flat = machineToMermaid(spec.machine, { layout: 'flat' });
    const flatGraph = parseMermaid(flat);
    expect(flatGraph.subgraphs).toEqual([]);
    for (const leaf of leafStatePaths(spec.machine)) expect(flatGraph.nodes.get(mermaidId(leaf))?.label).toBe(leaf);
    expect([...eventsInLabels(flat)].sort()).toEqual([...eventsInLabels(mermaid)].sort());
  });

  it('renders to a non-empty SVG document and a non-empty drawing', () => {
    const { svg, ascii } = renderDiagram(mermaid);
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    expect(unbalancedTags(svg)).toEqual([]);
    expect(ascii.trim().length).toBeGreaterThan(0);
    expect(ascii).not.toMatch(/\u001b\[/);
  });

  it('is the same text every time', () => {
    expect(machineToMermaid(spec.machine)).toBe(mermaid);
  });
});

/** Open tags left unclosed or closed out of order: a cheap well-formedness check that needs no XML parser. */
function unbalancedTags(xml: string): string[] {
  const body = xml.replace(/<style>[\s\S]*?<\/style>/g, '').replace(/<!--[\s\S]*?-->/g, '');
  const open: string[] = [];
  const problems: string[] = [];
  for (const match of body.matchAll(/<(\/?)([A-Za-z][\w:-]*)[^>]*?(\/?)>/g)) {
    const [, closing, name = '', selfClosing] = match;
    if (selfClosing) continue;
    if (!closing) open.push(name);
    else if (open.pop() !== name) problems.push(`</${name}>`);
  }
  return [...problems, ...open.map((name) => `<${name}>`)];
}

describe('the record diagram', () => {
  const mermaid = machineToMermaid(recordMachine);
  const graph = parseMermaid(mermaid);
  const edge = (from: string, to: string) =>
    graph.edges.find((candidate) => candidate.source === mermaidId(from) && candidate.target === mermaidId(to));

  it('names the record states the engine uses', () => {
    expect(leafStatePaths(recordMachine)).toEqual([...RECORD_STATES]);
    for (const state of RECORD_STATES) {
      expect(graph.nodes.has(mermaidId(state)), state).toBe(true);
    }
  });

  it('labels the record events', () => {
    const drawn = eventsInLabels(mermaid);
    for (const event of ['ACQUIRE', 'ACQUIRE_MUTABLE', 'COMMIT', 'RELEASE', 'RELEASE_MUTABLE', 'FINALIZE', 'REMOVE']) {
      expect(drawn.has(event), event).toBe(true);
    }
    expect(mermaid).toContain('in every state: CHILD_ADDED, CHILD_REMOVED');
  });

  it('nests compound states, with their initial state and the final state', () => {
    expect(graph.subgraphs.map((sg) => sg.id)).toEqual(['mutable', 'frozen', 'committed', 'remote']);
    const frozen = graph.subgraphs.find((sg) => sg.id === 'frozen');
    expect(frozen?.nodeIds).toEqual(expect.arrayContaining(['frozen_held', 'frozen_released']));
    expect(mermaid).toMatch(/state "frozen" as frozen \{[^}]*\[\*\] --> frozen_held/);
    expect(mermaid).toContain('  [*] --> creating');
    expect(mermaid).toContain('  removed --> [*]');
  });

  it('shows guards, eventless arrows and invoke results', () => {
    expect(edge('mutable.held', 'mutable.idle')?.label).toBe('RELEASE_MUTABLE [retained]');
    expect(edge('mutable.held', 'removing')?.label).toBe('RELEASE_MUTABLE');
    expect(edge('committed.released', 'removing')?.label).toBe('REMOVE [childless]');
    expect(edge('frozen.held', 'frozen.released')?.label).toBe('[unreferenced]');
    expect(edge('creating', 'mutable.held')?.label).toBe('done: prepare');
    expect(edge('creating', 'removed')?.label).toBe('error: prepare');
    expect(edge('finalizing', 'committed')?.label).toBe('done: finalize');
    expect(edge('finalizing', 'frozen')?.label).toBe('error: finalize');
    expect(edge('removing', 'removed')?.label).toBe('done: remove');
    // A snapshot that could not be removed keeps its record, listed, until a retry.
    expect(edge('removing', 'removalFailed')?.label).toBe('error: remove');
    expect(
      edge('removalFailed', 'removing')
        ?.label?.split(/\n|<br>/)
        .sort(),
    ).toEqual(['RELEASE_MUTABLE', 'REMOVE']);
  });

  it('draws an arrow of a compound state into itself from the leaves that take it', () => {
    // frozen: ACQUIRE → .held is taken from frozen.released (and from held, staying there).
    expect(edge('frozen.released', 'frozen.held')?.label).toBe('ACQUIRE');
    expect(
      edge('frozen.held', 'frozen.held')
        ?.label?.split(/\n|<br>/)
        .sort(),
    ).toEqual(['ACQUIRE', 'RELEASE']);
    // Only a held ref finalizes (BuildKit): the arrow leaves frozen.held, not the compound state.
    expect(edge('frozen.held', 'finalizing')?.label).toBe('FINALIZE');
    expect(edge('frozen', 'finalizing')).toBeUndefined();
  });

  it('resolves compound arrows to leaves in the flat layout', () => {
    const flat = parseMermaid(machineToMermaid(recordMachine, { layout: 'flat' }));
    const flatEdge = (from: string, to: string) =>
      flat.edges.find((candidate) => candidate.source === mermaidId(from) && candidate.target === mermaidId(to));
    expect(flatEdge('frozen.held', 'finalizing')?.label).toBe('FINALIZE');
    expect(flatEdge('frozen.released', 'finalizing')).toBeUndefined();
    expect(flatEdge('finalizing', 'committed.held')?.label).toBe('done: finalize');
    expect(flatEdge('finalizing', 'frozen.held')?.label).toBe('error: finalize');
  });
});

describe('the supervisor diagram', () => {
  const mermaid = machineToMermaid(supervisorMachine);

  it('shows operations decided when writable, refused when read-only and draining, and both final states', () => {
    const graph = parseMermaid(mermaid);
    const self = (state: string) =>
      graph.edges.find((edge) => edge.source === state && edge.target === state)?.label?.split(/\n|<br>/);
    const operations = [
      'GET',
      'GET_MUTABLE',
      'NEW',
      'FIND',
      'COMMIT',
      'FINALIZE',
      'CLONE',
      'RELEASE',
      'REMOVE',
      'REMEMBER_SIZE',
      'REMEMBER_LAYER',
      'PULL',
      'IMPORT',
    ];
    expect(self('ready_writable')).toEqual(operations);
    expect(self('ready_readOnly')).toEqual(operations);
    expect(self('draining')).toEqual(operations);
    expect(mermaid).toContain('ready --> draining : CLOSE');
    expect(mermaid).toContain('closed --> [*]');
    expect(mermaid).toContain('failed --> [*]');
  });
});

describe('highlight and counts', () => {
  const plain = machineToMermaid(recordMachine);

  it('marks the highlighted state with a class and a label mark', () => {
    const marked = machineToMermaid(recordMachine, { highlight: 'committed.released' });
    expect(marked).not.toBe(plain);
    expect(plain).not.toContain('classDef');
    expect(marked).toContain(`classDef ${HIGHLIGHT_CLASS} `);
    expect(marked).toContain(`class committed_released ${HIGHLIGHT_CLASS}`);
    expect(parseMermaid(marked).nodes.get('committed_released')?.label).toBe('released [current]');
    expect(parseMermaid(marked).nodes.get('frozen_released')?.label).toBe('released');
  });

  it('paints the highlighted state in the SVG and names it in the drawing', () => {
    const { svg, ascii } = renderDiagram(machineToMermaid(recordMachine, { highlight: 'mutable.idle' }));
    const group = /<g class="node current" data-id="mutable_idle"[^>]*>\s*<rect[^>]*>/.exec(svg)?.[0] ?? '';
    expect(group).toContain('fill="#fde68a"');
    expect(group).toContain('stroke="#b45309"');
    expect(svg.match(/class="node current"/g)).toHaveLength(1);
    expect(ascii).toContain('idle [current]');
  });

  it('highlights a compound state, and its leaves in the flat layout', () => {
    const nested = machineToMermaid(recordMachine, { highlight: 'frozen' });
    expect(nested).toContain(`class frozen ${HIGHLIGHT_CLASS}`);
    expect(renderDiagram(nested).svg).toMatch(/<g class="subgraph current" data-id="frozen"/);
    const flat = machineToMermaid(recordMachine, { highlight: 'frozen', layout: 'flat' });
    expect(flat).toContain(`class frozen_held,frozen_released ${HIGHLIGHT_CLASS}`);
  });

  it('appends counts to leaf labels', () => {
    const counted = machineToMermaid(recordMachine, { counts: { 'committed.released': 3, 'frozen.held': 0 } });
    const graph = parseMermaid(counted);
    expect(graph.nodes.get('committed_released')?.label).toBe('released (3)');
    expect(graph.nodes.get('frozen_held')?.label).toBe('held (0)');
    expect(graph.nodes.get('committed_held')?.label).toBe('held');
    const both = machineToMermaid(recordMachine, {
      counts: { 'committed.released': 3 },
      highlight: 'committed.released',
    });
    expect(parseMermaid(both).nodes.get('committed_released')?.label).toBe('released (3) [current]');
    expect(renderDiagram(both).ascii).toContain('released (3) [current]');
  });

  it('refuses options that name no state or carry bad values', () => {
    const bad: Array<[Parameters<typeof machineToMermaid>[1], RegExp]> = [
      [{ highlight: 'committed.gone' }, /highlight "committed.gone": is not a state of machine record/],
      [{ highlight: '' }, /highlight "": is not a state/],
      [{ counts: { frozen: 2 } }, /counts "frozen": is not a leaf state of machine record/],
      [{ counts: { 'nowhere.else': 1 } }, /counts "nowhere.else": is not a leaf state/],
      [{ counts: { removed: -1 } }, /counts \{"removed":-1\}: a count must be a non-negative integer/],
      [{ counts: { removed: 1.5 } }, /a count must be a non-negative integer/],
      [{ counts: [] as unknown as Record<string, number> }, /counts \[\]: must be an object/],
      [{ direction: 'RL' as 'TB' }, /direction "RL": must be 'TB' or 'LR'/],
      [{ layout: 'tree' as 'flat' }, /layout "tree": must be 'nested' or 'flat'/],
    ];
    for (const [options, message] of bad) {
      let thrown: unknown;
      try {
        machineToMermaid(recordMachine, options);
      } catch (error) {
        thrown = error;
      }
      expect(thrown, JSON.stringify(options)).toBeInstanceOf(DiagramOptionError);
      expect((thrown as Error).message).toMatch(message);
    }
  });
});
