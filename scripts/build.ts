import { execFileSync } from 'node:child_process';
import { cpSync, rmSync, utimesSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeRecordDiagrams } from './record-diagrams.js';

/**
 * `npm run build` (also run by `prepare`, so `npm ci` and `npm pack` build):
 * 1. draws the record statecharts into src/inspector/assets/diagrams/ (gitignored),
 *    where tests running the sources find them too;
 * 2. compiles src/ and machines/ with tsconfig.build.json into dist/src and dist/machines;
 * 3. copies the inspector's static page files and the containerd protos next to the compiled code.
 * `--clean` removes dist/ first (tsc builds incrementally otherwise).
 */

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const unknown = args.filter((arg) => arg !== '--clean');
if (unknown.length > 0) {
  console.error(`build: unknown argument ${unknown.join(' ')} (only --clean is accepted)`);
  process.exit(2);
}
if (args.includes('--clean')) rmSync(join(repoRoot, 'dist'), { recursive: true, force: true });

const drawn = await writeRecordDiagrams();
console.log(`build: drew ${drawn.length} record diagrams`);

const tsc = join(repoRoot, 'node_modules/typescript/bin/tsc');
execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: repoRoot, stdio: 'inherit' });

const assets = join(repoRoot, 'src/inspector/assets');
cpSync(assets, join(repoRoot, 'dist/src/inspector/assets'), { recursive: true });
// The containerd snapshotter reads its vendored .proto files at run time.
const protos = join(repoRoot, 'src/snapshot/containerd/proto');
cpSync(protos, join(repoRoot, 'dist/src/snapshot/containerd/proto'), { recursive: true });
// tsc leaves its build info untouched when nothing changed; its time says when dist/ was last made
// from the sources (test/package/build-fresh.ts compares it with theirs).
const now = new Date();
utimesSync(join(repoRoot, 'dist/.tsbuildinfo'), now, now);
console.log('build: dist/ written');
