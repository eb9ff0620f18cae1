import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { NativeSnapshotter } from '../../src/snapshot/native/native-snapshotter.js';
import { names } from './helpers.js';

let root = '';
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'cachekit-crash-'));
});
afterEach(() => rm(root, { recursive: true, force: true }));

it('leaves no visible snapshot when the process dies in the middle of a prepare', async () => {
  const sn = await NativeSnapshotter.open(root);
  const [m] = await sn.prepare('parent-build');
  for (let d = 0; d < 40; d++) {
    await mkdir(join(m!.source, `d${d}`));
    await Promise.all(Array.from({ length: 100 }, (_, f) => writeFile(join(m!.source, `d${d}`, `f${f}`), 'data')));
  }
  await sn.commit('parent', 'parent-build');
  await sn.close();

  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(import.meta.dirname, 'fixtures/crash-prepare.ts'), root],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
      detached: true, // its own process group, so the kill also stops the cp it spawned
    },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // Kill it as soon as the half-copied directory shows up.
  const snaps = join(root, 'snapshots');
  let sawPartial = false;
  while (child.exitCode === null) {
    if ((await readdir(snaps)).some((e) => e.startsWith('new-'))) {
      sawPartial = true;
      process.kill(-child.pid!, 'SIGKILL');
      break;
    }
    await new Promise((r) => setTimeout(r, 1));
  }
  await exited;

  const reopened = await NativeSnapshotter.open(root);
  try {
    expect(await names(reopened)).toEqual(sawPartial ? ['parent'] : ['child', 'parent']);
    await reopened.cleanup();
    const left = await readdir(snaps);
    expect(left.every((e) => /^\d+$/.test(e))).toBe(true);
    expect(left).toHaveLength(sawPartial ? 1 : 2);
    if (!sawPartial) console.warn('crash test: the child finished before it could be killed; only cleanup was checked');
  } finally {
    await reopened.close();
  }
});
