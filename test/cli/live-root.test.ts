import { execFile, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { cacheFixture } from '../cache/helpers.js';

const run = promisify(execFile);
const BIN = join(import.meta.dirname, '../../bin/cachekit.mjs');
const cachekit = async (...args: string[]) => (await run('node', [BIN, ...args], { encoding: 'utf8' })).stdout;

describe('CLI on a root a live process owns', () => {
  const fx = cacheFixture('native');

  it('du, inspect and watch read it from another process without writing', async () => {
    const root = fx.root();
    const cm = await fx.open(root);
    const mut = await cm.new(null, { description: 'base layer' });
    writeFileSync(join((await mut.mount()).path, 'data'), 'x'.repeat(100_000));
    const base = await mut.commit();
    await base.finalize();
    const held = await cm.new(base, { description: 'child' });

    const du = JSON.parse(await cachekit('du', '--root', root, '--format', 'json')) as {
      id: string;
      size: number;
      description?: string;
    }[];
    expect(du.map((u) => u.description).sort()).toEqual(['base layer', 'child']);
    expect(du.find((u) => u.id === base.id)!.size).toBeGreaterThanOrEqual(100_000);

    const summary = JSON.parse(await cachekit('inspect', '--root', root, '--format', 'json')) as {
      records: number;
      owner: { pid: number; alive: boolean };
    };
    expect(summary.records).toBe(2);
    expect(summary.owner).toEqual({ pid: process.pid, alive: true });

    const drawn = await cachekit('inspect', base.id, '--root', root);
    expect(drawn).toContain('[current]');
    expect(drawn).toContain(`record:      ${base.id}`);
    // The owner still holds `base` (never released): its control socket says so, where the metadata alone could not.
    expect(drawn).toContain('state:       committed.held');
    expect(drawn).toMatch(/next: .*-> committed\.released/);
    expect(drawn).toContain(`children:    ${held.id}`);

    const watcher = spawn('node', [BIN, 'watch', '--root', root, '--format', 'json', '--interval', '50'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    watcher.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const started = Date.now() + 20_000;
    while (!out.includes('watch.started') && Date.now() < started) await new Promise((r) => setTimeout(r, 50));
    const child = await held.commit();
    await child.release();
    const deadline = Date.now() + 5000;
    while (!out.includes('record.changed') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    watcher.kill('SIGINT');
    const lines = out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; id?: string; from?: string; to?: string });
    expect(lines).toContainEqual(
      expect.objectContaining({ type: 'record.changed', id: child.id, from: 'mutable', to: 'frozen' }),
    );
    // The owner still works and nothing was repaired or changed behind its back.
    expect(cm.describe(child.id).state).toBe('frozen.released');
  });
});
