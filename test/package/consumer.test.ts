import { execFile } from 'node:child_process';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordTransitions } from '../../src/testing/index.js';
import { appManifests } from './app-lock.js';

/**
 * cachekit as a user gets it: `npm pack`, then `npm install <tarball>` into a fresh app
 * with no network (`npm ci --offline` from the npm cache that the project's `npm ci` filled), and the app
 * imports, requires, type-checks, bundles and runs the CLI on plain node, no tsx anywhere.
 */

const run = promisify(execFile);
const repo = resolve(import.meta.dirname, '../..');
const fixtures = join(import.meta.dirname, 'app');
const tsc = join(repo, 'node_modules/typescript/bin/tsc');
const tmp = mkdtempSync(join(tmpdir(), 'cachekit-consumer-'));
const app = join(tmp, 'app');
let tarball = '';

/** Runs a command; on failure the error carries its stdout and stderr, so the test output shows why. */
async function sh(file: string, args: string[], cwd: string): Promise<string> {
  try {
    const { stdout } = await run(file, args, { cwd, encoding: 'utf8', maxBuffer: 64 << 20 });
    return stdout;
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string };
    throw new Error(`${file} ${args.join(' ')} failed in ${cwd}\n${stdout ?? ''}\n${stderr ?? ''}`, { cause: error });
  }
}

const node = (args: string[], cwd = app) => sh(process.execPath, args, cwd);
const npm = (args: string[], cwd: string) => sh('npm', args, cwd);
const lastJson = <T>(stdout: string): T => JSON.parse(stdout.trim().split('\n').at(-1)!) as T;
const duBytes = async (path: string) => Number((await sh('du', ['-s', '-B1', path], tmp)).split('\t')[0]);
const freshRoot = (name: string) => mkdtempSync(join(tmp, `${name}-`));

/** `file(line,col): error TS…` lines of a tsc run in the app; none when it compiles. */
async function typeErrors(project: string): Promise<string[]> {
  try {
    await run(process.execPath, [tsc, '-p', project, '--pretty', 'false'], { cwd: app, encoding: 'utf8' });
    return [];
  } catch (error) {
    const { stdout = '' } = error as { stdout?: string };
    const errors = stdout.split('\n').filter((line) => /^\S.*\(\d+,\d+\): error TS/.test(line));
    if (errors.length === 0) throw error;
    return errors;
  }
}

beforeAll(async () => {
  // The build is fresh (test/package/build-fresh.ts), so packing skips `prepare` instead of building again.
  const [packed] = JSON.parse(await npm(['pack', '--json', '--ignore-scripts', '--pack-destination', tmp], repo)) as {
    filename: string;
  }[];
  tarball = join(tmp, packed!.filename);
  mkdirSync(app);
  for (const file of readdirSync(fixtures)) copyFileSync(join(fixtures, file), join(app, file));
  // @types/node comes along, as any TypeScript app on Node has it.
  // fast-check too: cachekit/testing needs it, as an optional peer dependency the app installs itself.
  const { packageJson, lock } = appManifests(repo, tarball, app, ['@types/node', 'fast-check']);
  writeFileSync(join(app, 'package.json'), `${JSON.stringify(packageJson, null, 2)}\n`);
  writeFileSync(join(app, 'package-lock.json'), `${JSON.stringify(lock, null, 2)}\n`);
  // --offline: every tarball must come from the npm cache; nothing is fetched.
  await npm(['ci', '--offline', '--no-audit', '--no-fund'], app);
}, 600_000);

afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('the packed tarball', () => {
  it('holds the compiled package, its assets and the license, and no sources, tests or CI files', async () => {
    const listing = await sh('tar', ['-tzf', tarball], tmp);
    const files = listing.split('\n').filter(Boolean);
    expect(files).toContain('package/LICENSE');
    expect(files).toContain('package/dist/src/index.js');
    expect(files).toContain('package/dist/src/index.d.ts');
    expect(files).toContain('package/dist/src/index.js.map');
    expect(files).toContain('package/dist/machines/record.machine.js');
    expect(files).toContain('package/dist/src/size/walk-worker.js');
    expect(files).toContain('package/dist/src/testing/index.js');
    expect(files).toContain('package/dist/src/testing/index.d.ts');
    // The crash command forks this file: it must ship beside the kit.
    expect(files).toContain('package/dist/src/testing/crash-child.js');
    expect(files).toContain('package/dist/src/inspector/assets/index.html');
    expect(files).toContain('package/dist/src/inspector/assets/diagrams/record.committed.held.svg');
    expect(files).toContain('package/bin/cachekit.mjs');
    const outside = files.filter((f) => !/^package\/(dist\/(src|machines)\/|bin\/|[^/]+$)/.test(f));
    expect(outside).toEqual([]);
    expect(files.filter((f) => /\.ts$/.test(f) && !f.endsWith('.d.ts'))).toEqual([]);
    expect(files.some((f) => f.includes('/diagram/render') || f.endsWith('.tsbuildinfo'))).toBe(false);
    expect(readFileSync(join(repo, 'LICENSE'), 'utf8')).toContain(
      'Apache License\n                           Version 2.0',
    );
  });

  it('installs only runtime dependencies: no tsx, esbuild or diagram renderer', () => {
    const installed = readdirSync(join(app, 'node_modules'));
    for (const dev of ['tsx', 'esbuild', 'beautiful-mermaid', 'elkjs', 'typescript', 'vitest']) {
      expect(installed).not.toContain(dev);
    }
    expect(installed).toEqual(expect.arrayContaining(['cachekit', 'commander', 'lmdb', 'rxjs', 'xstate', 'zod']));
  });

  it('passes publint and arethetypeswrong with nothing reported', async () => {
    const publint = await sh(join(repo, 'node_modules/.bin/publint'), ['run', '--strict', tarball], repo);
    expect(publint).toContain('All good!');
    // Exits non-zero on any problem. esm-only: CommonJS apps load cachekit through require(esm)
    // (Node >= 20.19, checked below), which attw's node16-from-CJS resolution does not model.
    await sh(join(repo, 'node_modules/.bin/attw'), [tarball, '--profile', 'esm-only'], repo);
  });
});

describe('a plain node app', () => {
  it('imports cachekit as ESM and takes a record through its whole life', async () => {
    const out = lastJson<{
      id: string;
      state: string;
      usage: { id: string; size: number; inUse: boolean }[];
      pruned: string[];
      after: number;
    }>(await node(['lifecycle.mjs', freshRoot('lifecycle')]));
    // commit is lazy, as in BuildKit: the record stays frozen until something needs it finalized.
    expect(out.state).toBe('frozen.held');
    expect(out.usage).toHaveLength(1);
    expect(out.usage[0]).toMatchObject({ id: out.id, inUse: false });
    // One MiB of random bytes takes at least one MiB of blocks.
    expect(out.usage[0]!.size).toBeGreaterThanOrEqual(1 << 20);
    expect(out.pruned).toEqual([out.id]);
    expect(out.after).toBe(0);
  });

  it('imports cachekit/testing beside fast-check, and its manual clock moves only when told', async () => {
    const script =
      "import { manualClock, cacheModel, transitionCoverage } from 'cachekit/testing';" +
      'const c = manualClock(1000); c.advance(500);' +
      'const m = cacheModel(); m.newRecord("r"); const t = transitionCoverage().report();' +
      'console.log(JSON.stringify({ now: c.now(), records: m.live().length, missed: t.missed.length }));';
    const out = lastJson<{ now: number; records: number; missed: number }>(
      await node(['--input-type=module', '-e', script]),
    );
    // Nothing ran, so every transition of the record machine is missed.
    expect(out).toEqual({ now: 1500, records: 1, missed: recordTransitions().length });
  });

  it('loads cachekit from CommonJS require() where Node can, and says why where it cannot', async () => {
    const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
    const canRequireEsm = major > 22 || (major === 22 && minor >= 12) || (major === 20 && minor >= 19);
    if (canRequireEsm) {
      const out = lastJson<{ openCacheManager: string; parseSize: number }>(await node(['require.cjs']));
      expect(out).toEqual({ openCacheManager: 'function', parseSize: 1024 });
    } else {
      await expect(node(['require.cjs'])).rejects.toThrow(/ERR_REQUIRE_ESM|require\(\) of ES Module/);
    }
  });

  it('runs the bin: npx cachekit --version and du --root', async () => {
    const version = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')).version as string;
    expect((await npm(['exec', '--offline', '--', 'cachekit', '--version'], app)).trim()).toBe(version);
    const root = freshRoot('cli');
    await node(['lifecycle.mjs', root]);
    const json = JSON.parse(
      await npm(['exec', '--offline', '--', 'cachekit', 'du', '--root', root, '--format', 'json'], app),
    );
    expect(json).toEqual([]);
    const table = await npm(['exec', '--offline', '--', 'cachekit', 'du', '--root', root], app);
    expect(table).toMatch(/Total:\s+0B/);
  });
});

describe('a TypeScript app with its own strict flags', () => {
  for (const [module, moduleResolution] of [
    ['nodenext', 'nodenext'],
    ['esnext', 'bundler'],
  ] as const) {
    it(`compiles against our types with module ${module}, moduleResolution ${moduleResolution}`, async () => {
      const config = {
        compilerOptions: {
          module,
          moduleResolution,
          target: 'ES2022',
          lib: ['ES2023'],
          types: ['node'],
          strict: true,
          exactOptionalPropertyTypes: true,
          noPropertyAccessFromIndexSignature: true,
          noUncheckedIndexedAccess: true,
          skipLibCheck: false,
          noEmit: true,
        },
        files: ['typed.ts'],
      };
      writeFileSync(join(app, `tsconfig.${module}.json`), JSON.stringify(config));
      const errors = await typeErrors(`tsconfig.${module}.json`);
      // xstate 5's own declarations fail under exactOptionalPropertyTypes without skipLibCheck (statelyai/xstate
      // issue 4613, open): any app importing xstate sees them. Nothing else may fail: not ours, not the app's.
      expect(errors.filter((e) => !e.startsWith('node_modules/xstate/'))).toEqual([]);
      // Only our declarations: the app must not type-check cachekit's sources.
      const listed = await node([tsc, '-p', `tsconfig.${module}.json`, '--listFilesOnly']);
      const ours = listed.split('\n').filter((f) => f.includes('node_modules/cachekit/'));
      expect(ours.length).toBeGreaterThan(0);
      expect(ours.filter((f) => !f.endsWith('.d.ts'))).toEqual([]);
    });
  }
});

describe('an app bundled with esbuild', () => {
  it('sizes records from the bundle, with the size worker bundled as a second entry beside it', async () => {
    const outdir = join(app, 'bundle');
    await build({
      absWorkingDir: app,
      entryPoints: { app: 'bundled.mjs', 'walk-worker': 'cachekit/size-worker' },
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      outdir,
      // .mjs, as an app whose package.json is not "type": "module" writes it; the worker takes the same extension.
      outExtension: { '.js': '.mjs' },
      // Packages that load native addons stay runtime dependencies of the bundle (docs/api.md says which).
      external: ['lmdb', 'fs-ext', 'zstd-napi', '@napi-rs/xattr'],
      // CommonJS inside an ESM bundle (tar-stream's streams) requires Node built-ins: give it a require.
      banner: {
        js: "import { createRequire as bannerRequire } from 'node:module'; const require = bannerRequire(import.meta.url);",
      },
      logLevel: 'silent',
    });
    const bundle = readFileSync(join(outdir, 'app.mjs'), 'utf8');
    expect(bundle).not.toMatch(/from\s*["']cachekit/);
    // The worker is looked up next to the bundle under its own name.
    expect(statSync(join(outdir, 'walk-worker.mjs')).isFile()).toBe(true);
    const out = lastJson<{ path: string; listed: number; size: { size: number; inodes: number } }>(
      await node([join(outdir, 'app.mjs'), freshRoot('bundled')]),
    );
    const expected = await duBytes(out.path);
    expect(expected).toBeGreaterThanOrEqual(3 << 20);
    expect(out.size.size).toBe(expected);
    expect(out.listed).toBe(expected);
  });
});
