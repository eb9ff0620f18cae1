/**
 * How long `cachekit --help` and `cachekit --version` take to start, on the compiled
 * bin as users run it, against plain `node -e 0` and against a process that imports
 * the whole engine, all measured in this run. Goal: --help under 300 ms.
 * Run: npm run bench:cli [-- --runs 15]   (needs `npm run build`)
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { median } from './report.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '15' } } });
const RUNS = Number(values.runs);
const repo = resolve(import.meta.dirname, '../..');
const bin = join(repo, 'bin/cachekit.mjs');
const engine = join(repo, 'dist/src/index.js');
if (!existsSync(engine)) {
  console.error('bench:cli: dist/ is missing; run `npm run build` first');
  process.exit(1);
}

function medianMs(args: string[]): number {
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const start = performance.now();
    execFileSync(process.execPath, args, { stdio: 'ignore' });
    times.push(performance.now() - start);
  }
  return median(times);
}

const rows: [string, number][] = [
  ['node -e 0', medianMs(['-e', '0'])],
  ['cachekit --version', medianMs([bin, '--version'])],
  ['cachekit --help', medianMs([bin, '--help'])],
  ['import of the whole engine', medianMs(['-e', `await import(${JSON.stringify(engine)})`, '--input-type=module'])],
];
const base = rows[0]![1];
console.log(`median of ${RUNS} runs each`);
for (const [label, ms] of rows) {
  console.log(`${label.padEnd(28)} ${ms.toFixed(0).padStart(5)} ms  (${(ms / base).toFixed(1)}x node -e 0)`);
}
const help = rows[2]![1];
console.log(`cachekit --help: ${help.toFixed(0)} ms, goal under 300 ms: ${help < 300 ? 'met' : 'NOT met'}`);
