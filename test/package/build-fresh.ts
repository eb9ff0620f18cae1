import { execFileSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

/**
 * vitest global setup: the CLI suites start bin/cachekit.mjs, which runs dist/, and the
 * inspector serves the drawings the build writes. Running a suite after editing src/
 * must not test a stale build, so this rebuilds when any input is newer than the build.
 */

const repo = resolve(import.meta.dirname, '../..');
const STAMP = join(repo, 'dist/.tsbuildinfo');
const INPUTS = ['src', 'machines', 'scripts', 'tsconfig.json', 'tsconfig.build.json', 'package.json'];

function newest(path: string): number {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  let latest = stat.mtimeMs;
  for (const entry of readdirSync(path)) {
    // The drawings are the build's own output.
    if (entry === 'diagrams' && path.endsWith('assets')) continue;
    latest = Math.max(latest, newest(join(path, entry)));
  }
  return latest;
}

function builtAt(): number {
  try {
    return statSync(STAMP).mtimeMs;
  } catch {
    return 0;
  }
}

export default function setup(): void {
  const inputs = Math.max(...INPUTS.map((input) => newest(join(repo, input))));
  if (builtAt() >= inputs) return;
  execFileSync(process.execPath, [join(repo, 'node_modules/tsx/dist/cli.mjs'), 'scripts/build.ts'], {
    cwd: repo,
    stdio: 'inherit',
  });
}
