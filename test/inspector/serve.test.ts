import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openCacheManager } from '../../src/index.js';

const BIN = join(import.meta.dirname, '../../bin/cachekit.mjs');
const roots: string[] = [];
afterEach(() => {
  for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
});

function run(args: string[]) {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const url = new Promise<string>((resolve, reject) => {
    child.stdout.on('data', () => {
      const m = /(http:\/\/\S+\?token=[0-9a-f]+)/.exec(stdout);
      if (m?.[1]) resolve(m[1]);
    });
    void exited.then((code) => reject(new Error(`serve exited (${String(code)}) before printing its URL: ${stderr}`)));
  });
  // Tests that expect an early exit never await the URL.
  url.catch(() => {});
  return { child, url, exited, output: () => ({ stdout, stderr }) };
}

describe('cachekit serve', () => {
  it('serves the cache on loopback until SIGINT, then closes it', async () => {
    const root = mkdtempSync(join(tmpdir(), 'cachekit-serve-'));
    roots.push(root);
    const cli = run(['serve', '--root', root, '--create', '--port', '0']);
    const url = await cli.url;
    expect(new URL(url).hostname).toBe('127.0.0.1');
    expect((await fetch(url)).status).toBe(200);
    const bare = new URL(url);
    bare.search = '';
    expect((await fetch(bare)).status).toBe(401);
    cli.child.kill('SIGINT');
    expect(await cli.exited).toBe(0);
    // The manager was closed: its owner lock is free again.
    const cm = await openCacheManager({ root });
    await cm.close();
  });

  it('rejects a bad port before opening anything', async () => {
    const root = mkdtempSync(join(tmpdir(), 'cachekit-serve-'));
    roots.push(root);
    const cli = run(['serve', '--root', root, '--port', '99999']);
    expect(await cli.exited).toBe(1);
    expect(cli.output().stderr).toContain('--port 99999: expected a whole number from 0 to 65535');
  });

  it('refuses a host beyond loopback without --allow-remote, before touching the root', async () => {
    const parent = mkdtempSync(join(tmpdir(), 'cachekit-serve-'));
    roots.push(parent);
    const root = join(parent, 'root');
    for (const host of ['0.0.0.0', '0']) {
      const cli = run(['serve', '--root', root, '--host', host]);
      expect(await cli.exited, host).toBe(1);
      expect(cli.output().stderr).toContain('inspector option host');
      expect(cli.output().stderr).toContain('--allow-remote');
      expect(existsSync(root)).toBe(false);
    }
  });

  it('listens on every interface with --allow-remote, and says so', async () => {
    const root = mkdtempSync(join(tmpdir(), 'cachekit-serve-'));
    roots.push(root);
    const cli = run(['serve', '--root', root, '--create', '--host', '0.0.0.0', '--allow-remote']);
    const url = new URL(await cli.url);
    expect(cli.output().stderr).toContain('warning: --allow-remote');
    url.hostname = '127.0.0.1';
    expect((await fetch(url)).status).toBe(200);
    cli.child.kill('SIGINT');
    expect(await cli.exited).toBe(0);
  });
});
