/**
 * The dependency direction of cachekit, checked by `npm run lint:deps` (part of `npm test`).
 *
 *   cli → inspector → cache (the engine) → metadata, snapshot, size, remote → filters, units
 *
 * An arrow means "may import"; a layer may also import any layer further down, except that only the
 * engine reads metadata, snapshot, size and remote directly. Folders of one layer may import each other.
 * `src/diagram` draws statecharts for the inspector and scripts only; it sits between the inspector and
 * the engine. `machines/` is pure XState
 * `setup()` definitions: nothing from `src/`, no Node built-ins. `src/index.ts` is the public API and
 * may import anything. Tests are checked for cycles only.
 */

/** Folders of one layer, as a path pattern. */
const CLI = '^src/cli/';
const INSPECTOR = '^src/inspector/';
const ENGINE = '^src/cache/';
const BELOW_ENGINE = '^src/(metadata|snapshot|size|remote)/';
const LEAVES = '^src/(filters|units)/';
const DIAGRAM = '^src/diagram/';
const PUBLIC_API = '^src/index\\.ts$';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'An import cycle: the modules cannot be understood, loaded or tested one without the other.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'no-unresolvable',
      severity: 'error',
      comment: 'An import that does not resolve would slip past every rule below.',
      from: { path: '^(src|machines|scripts)/' },
      to: { couldNotResolve: true },
    },
    {
      name: 'machines-know-no-src',
      severity: 'error',
      comment: 'machines/ is the top-level home of the statecharts: it imports nothing from src/.',
      from: { path: '^machines/' },
      to: { path: '^src/' },
    },
    {
      name: 'machines-do-no-io',
      severity: 'error',
      comment: 'machines/ holds pure XState setup() definitions: no Node built-in (fs, child_process, ...).',
      from: { path: '^machines/' },
      to: { dependencyTypes: ['core'] },
    },
    {
      name: 'leaves-stand-alone',
      severity: 'error',
      comment: 'filters and units depend on nothing else in cachekit.',
      from: { path: `${LEAVES}` },
      to: { path: '^src/', pathNot: '^src/$1/' },
    },
    {
      name: 'below-engine-not-up',
      severity: 'error',
      comment: 'metadata, snapshot, size and remote sit below the engine and know nothing above them.',
      from: { path: BELOW_ENGINE },
      to: { path: `${ENGINE}|${INSPECTOR}|${CLI}|${DIAGRAM}|${PUBLIC_API}` },
    },
    {
      name: 'engine-not-up',
      severity: 'error',
      comment: 'The cache engine knows nothing of the inspector, the CLI or the public API that wraps it.',
      from: { path: ENGINE },
      to: { path: `${INSPECTOR}|${CLI}|${DIAGRAM}|${PUBLIC_API}` },
    },
    {
      name: 'inspector-not-up',
      severity: 'error',
      comment: 'The inspector sits below the CLI and the public API.',
      from: { path: INSPECTOR },
      to: { path: `${CLI}|${PUBLIC_API}` },
    },
    {
      name: 'only-the-engine-reads-storage',
      severity: 'error',
      comment: 'The CLI and the inspector go through the cache engine, never to metadata, snapshots or sizes.',
      from: { path: `${CLI}|${INSPECTOR}` },
      to: { path: BELOW_ENGINE },
    },
    {
      name: 'diagram-for-inspector-and-scripts',
      severity: 'error',
      comment: 'src/diagram (and its renderer) is for the inspector page and scripts/ only.',
      from: { path: '^src/', pathNot: `${INSPECTOR}|${DIAGRAM}` },
      to: { path: DIAGRAM },
    },
    {
      name: 'diagram-not-up',
      severity: 'error',
      comment: 'src/diagram sits below the inspector: it may read the engine (the rules table) but nothing above.',
      from: { path: DIAGRAM },
      to: { path: `${INSPECTOR}|${CLI}|${PUBLIC_API}` },
    },
    {
      name: 'testing-kit-beside-the-inspector',
      severity: 'error',
      comment:
        'src/testing (cachekit/testing) reads the engine, the snapshotters it wraps and machines/; nothing in src/ imports it.',
      from: { path: '^src/', pathNot: '^src/testing/' },
      to: { path: '^src/testing/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^src/inspector/assets/' },
    // Type-only imports count: a type import is a dependency of the code that reads it.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      mainFields: ['module', 'main', 'types', 'typings'],
    },
    reporterOptions: {
      text: { highlightFocused: true },
    },
  },
};
