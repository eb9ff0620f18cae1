import { execFile, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { cacheFixture } from '../cache/helpers.js';

const run = promisify(execFile);
const BIN = join(import.meta.dirname, '../../bin/cachekit.mjs');
/** The CLI in a child process, so that this process, the owner, keeps answering while it runs. */
const cachekit = async (...args: string[]) => run('node', [BIN, ...args], { encoding: 'utf8' });

interface UsageRow {
  id: string;
  mutable: boolean;
  inUse: boolean;
  size: number;
  source: string;
}

interface WatchLine {
  type: string;
  source: string;
  id?: string;
  from?: string;
  to?: string;
  event?: string;
}

/** A running `cachekit watch --format json`, with the lines it printed so far. */
function startWatch(root: string) {
  const child = spawn('node', [BIN, 'watch', '--root', root, '--format', 'json', '--interval', '50'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const lines = () =>
    out
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as WatchLine);
  /** Waits (bounded, generously: only "never" fails) until a line matches. */
  const until = async (match: (l: WatchLine) => boolean) => {
    const deadline = Date.now() + 20_000;
    while (!lines().some(match) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    return lines().find(match);
  };
  const stop = async () => {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGINT');
    await exited;
  };
  return { lines, until, stop };
}

describe('du, inspect and watch from another process see what the owner holds', () => {
  const fx = cacheFixture('native');

  /** An owner (this process) holding a mutable ref and an immutable ref to its parent. */
  async function ownerHolding() {
    const root = fx.root();
    const cm = await fx.open(root);
    const mut = await cm.new(null, { description: 'base' });
    writeFileSync(join((await mut.mount()).path, 'data'), 'x'.repeat(50_000));
    const base = await mut.commit();
    await base.finalize();
    await base.release();
    const immutable = await cm.get(base.id);
    const mutable = await cm.new(immutable, { description: 'building' });
    writeFileSync(join((await mutable.mount()).path, 'work'), 'y'.repeat(30_000));
    return { root, cm, immutable, mutable };
  }

  it('du --format json: both in use, the mutable one size 0 as BuildKit reports it, source owner', async () => {
    const { root, immutable, mutable } = await ownerHolding();
    const du = await cachekit('du', '--root', root, '--format', 'json');
    const rows = JSON.parse(du.stdout) as UsageRow[];
    expect(rows.find((r) => r.id === mutable.id)).toMatchObject({ mutable: true, inUse: true, size: 0 });
    expect(rows.find((r) => r.id === immutable.id)).toMatchObject({ mutable: false, inUse: true });
    expect(rows.find((r) => r.id === immutable.id)!.size).toBeGreaterThanOrEqual(50_000);
    for (const r of rows) expect(r.source).toBe('owner');
    expect(du.stderr).toContain('source: owner (live)');

    const table = await cachekit('du', '--root', root);
    // buildx's columns: nothing is reclaimable while held.
    expect(table.stdout).toMatch(new RegExp(`${mutable.id}\\*\\s+false\\s+0B`));
    expect(table.stdout).toMatch(/Reclaimable:\s+0B/);
    expect(table.stderr).toContain('source: owner (live)');
  });

  it('inspect <id> shows mutable.held, the refs and the recent transitions', async () => {
    const { root, immutable, mutable } = await ownerHolding();
    const text = (await cachekit('inspect', mutable.id, '--root', root)).stdout;
    expect(text).toContain('state:       mutable.held\n');
    expect(text).toContain('source:      owner (live)');
    expect(text).toContain('refs:        0');
    expect(text).toMatch(/history:\n {2}\S+ creating --\S+--> mutable\.held/);

    const json = JSON.parse((await cachekit('inspect', immutable.id, '--root', root, '--format', 'json')).stdout) as {
      state: string;
      refs: number;
      childIds: string[];
      history: { from: string; to: string }[];
      source: string;
    };
    expect(json).toMatchObject({ state: 'committed.held', source: 'owner', childIds: [mutable.id] });
    expect(json.refs).toBeGreaterThanOrEqual(1);
    expect(json.history).toContainEqual(expect.objectContaining({ from: 'committed.released', to: 'committed.held' }));

    const summary = JSON.parse((await cachekit('inspect', '--root', root, '--format', 'json')).stdout) as {
      source: string;
      states: Record<string, number>;
    };
    expect(summary).toMatchObject({ source: 'owner', states: { 'mutable.held': 1, 'committed.held': 1 } });
  });

  it('watch --format json shows a held -> released transition as it happens', async () => {
    const { root, cm, immutable, mutable } = await ownerHolding();
    const watch = startWatch(root);
    try {
      expect(await watch.until((l) => l.type === 'watch.started')).toMatchObject({ source: 'owner' });
      await mutable.release();
      await immutable.release();
      const released = await watch.until((l) => l.type === 'record.transition' && l.id === immutable.id);
      expect(released).toMatchObject({ source: 'owner', from: 'committed.held', to: 'committed.released' });
      // The mutable one was never committed nor retained: released, it goes (BuildKit's rule).
      expect(await watch.until((l) => l.type === 'record.removed' && l.id === mutable.id)).toBeDefined();

      // The owner closes: the watch goes on from the metadata and says so.
      await cm.close();
      expect(await watch.until((l) => l.type === 'watch.source')).toMatchObject({ source: 'metadata' });
    } finally {
      await watch.stop();
    }
  });

  it('with no owner running, the same commands read the metadata and say so', async () => {
    const { root, cm, mutable } = await ownerHolding();
    await cm.close();
    const du = await cachekit('du', '--root', root, '--format', 'json');
    const rows = JSON.parse(du.stdout) as UsageRow[];
    expect(rows.length).toBe(2);
    for (const r of rows) expect(r).toMatchObject({ source: 'metadata', inUse: false });
    expect(du.stderr).toContain('source: metadata (stored states only)');

    const text = (await cachekit('inspect', mutable.id, '--root', root)).stdout;
    expect(text).toContain('source:      metadata (stored states only)');
    expect(text).not.toContain('refs:');
    const json = JSON.parse((await cachekit('inspect', mutable.id, '--root', root, '--format', 'json')).stdout) as {
      source: string;
      history?: unknown;
    };
    expect(json.source).toBe('metadata');
    expect(json.history).toBeUndefined();

    const watch = startWatch(root);
    try {
      expect(await watch.until((l) => l.type === 'watch.started')).toMatchObject({ source: 'metadata' });
    } finally {
      await watch.stop();
    }
  });
});
