import { spawn, spawnSync } from 'node:child_process';
import { cpSync, openSync, closeSync, readSync, writeSync, statSync, truncateSync, mkdtempSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { checkLmdbFile } from '../../src/metadata/lmdb-check.js';
import { openCacheManager } from '../../src/index.js';

const FIXTURE = join(import.meta.dirname, 'fixtures/open-root.ts');
const PAGE = 4096;

const roots: string[] = [];
afterEach(() => {
  for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
});

/** A root with 40 committed records (enough to make both LMDB files several pages long). */
async function populatedRoot(): Promise<string> {
  const root = mkdtempSync(join(tmpdir(), 'cachekit-lmdb-'));
  roots.push(root);
  const cm = await openCacheManager({ root, snapshotter: 'native' });
  for (let i = 0; i < 40; i++) {
    const imm = await (await cm.new(null, { retain: true, description: `record ${i} ${'d'.repeat(300)}` })).commit();
    await imm.release();
  }
  await cm.close();
  return root;
}

function overwrite(file: string, offset: number, bytes: Buffer): void {
  const fd = openSync(file, 'r+');
  try {
    writeSync(fd, bytes, 0, bytes.length, offset);
  } finally {
    closeSync(fd);
  }
}

/** Opens the root in a child process: a native crash then shows as a signal instead of killing this run. */
function openInChild(root: string): { status: number | null; signal: NodeJS.Signals | null; out: string } {
  const r = spawnSync('node', ['--import', 'tsx', FIXTURE, root], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, signal: r.signal, out: `${r.stdout}${r.stderr}` };
}

type Damage = { name: string; apply(file: string): void; headerCatches: boolean };
const DAMAGES: Damage[] = [
  { name: 'truncated to 4096 bytes', apply: (f) => truncateSync(f, PAGE), headerCatches: true },
  {
    name: 'truncated to half',
    apply: (f) => truncateSync(f, Math.floor(statSync(f).size / PAGE / 2) * PAGE),
    headerCatches: true,
  },
  { name: 'random bytes over meta page 0', apply: (f) => overwrite(f, 0, randomBytes(PAGE)), headerCatches: true },
  { name: 'random bytes over meta page 1', apply: (f) => overwrite(f, PAGE, randomBytes(PAGE)), headerCatches: true },
  {
    name: 'random bytes over a page in the middle',
    // Whether the page is in a tree, free, or part of a value depends on the layout: opens or fails typed.
    apply: (f) => overwrite(f, Math.floor(statSync(f).size / PAGE / 2) * PAGE, randomBytes(PAGE)),
    headerCatches: false,
  },
];

/** Pages 2 and up of a file, a few at a time: mdb.c follows what a tree page says without checking it. */
function treePagesOf(file: string): number[] {
  return Array.from({ length: statSync(file).size / PAGE - 2 }, (_, i) => i + 2);
}

const FILES = [
  { side: 'cache metadata', rel: ['metadata', 'data.mdb'], error: /^ERR CacheError NEEDS_RECOVERY .*data\.mdb/ },
  { side: 'snapshotter metadata', rel: ['snapshots', 'metadata.lmdb'], error: /^ERR \w*Error .*metadata\.lmdb/ },
];

describe('LMDB header check', () => {
  it('passes the files lmdb-js writes, and a missing file', async () => {
    const root = await populatedRoot();
    for (const { rel } of FILES) {
      const check = checkLmdbFile(join(root, ...rel));
      expect(check.ok).toBe(true);
      if (check.ok) expect(check.facts.pages).toBeGreaterThanOrEqual(3);
    }
    expect(checkLmdbFile(join(root, 'nothing-here')).ok).toBe(true);
  });

  // mdb.c never writes a page that the transaction which took it freed again, so a sound file may end
  // before the last page its meta names. A 1M-record root written by lmdb-js showed it: refusing such a
  // file made a healthy cache look damaged.
  for (const { side, rel } of FILES)
    it(`${side} that ends before the last page in use (free pages never written) is sound and opens`, async () => {
      const root = await populatedRoot();
      const file = join(root, ...rel);
      // MDB_meta after the 24-byte page header: last page number at +120, txnid at +128.
      const fd = openSync(file, 'r+');
      try {
        const txnid = (page: number) => {
          const b = Buffer.alloc(8);
          readSync(fd, b, 0, 8, page * PAGE + 24 + 128);
          return b.readBigUInt64LE();
        };
        const current = txnid(1) > txnid(0) ? 1 : 0;
        const last = Buffer.alloc(8);
        readSync(fd, last, 0, 8, current * PAGE + 24 + 120);
        const pages = BigInt(statSync(file).size / PAGE);
        expect(last.readBigUInt64LE()).toBeLessThan(pages);
        last.writeBigUInt64LE(pages + 8n);
        writeSync(fd, last, 0, 8, current * PAGE + 24 + 120);
      } finally {
        closeSync(fd);
      }
      expect(checkLmdbFile(file).ok).toBe(true);
      const child = openInChild(root);
      expect(child.signal, child.out).toBeNull();
      expect(child.out).toMatch(/^OK 40/);
    });

  for (const { side, rel, error } of FILES)
    for (const damage of DAMAGES)
      it(`${side} ${damage.name}: a typed error naming the file, never a signal`, async () => {
        const root = await populatedRoot();
        const file = join(root, ...rel);
        damage.apply(file);
        const check = checkLmdbFile(file);
        if (damage.headerCatches) expect(check).toMatchObject({ ok: false });
        const child = openInChild(root);
        expect(child.signal, child.out).toBeNull();
        if (damage.headerCatches) {
          expect(child.status).toBe(2);
          expect(child.out).toMatch(error);
        } else expect(child.out, 'either opens or fails typed').toMatch(/^(OK \d+|ERR (Cache|Snapshot)Error )/);
      });

  // Before the page walk, one overwritten branch or leaf page killed the opening process with SIGSEGV,
  // SIGBUS or an mdb.c assertion, depending on which page it hit.
  for (const { side, rel } of FILES)
    it(`${side}: any one page overwritten, with garbage or with zeros, opens or fails typed, never a signal`, async () => {
      const root = await populatedRoot();
      const pages = treePagesOf(join(root, ...rel));
      expect(pages.length).toBeGreaterThan(8);
      // Every other page with garbage, the rest with zeros (a page lost to a hole), each on a fresh copy.
      const outcomes: string[] = [];
      for (const page of pages) {
        const copy = mkdtempSync(join(tmpdir(), 'cachekit-lmdb-page-'));
        roots.push(copy);
        cpSync(root, copy, { recursive: true });
        const file = join(copy, ...rel);
        overwrite(file, page * PAGE, page % 2 === 0 ? randomBytes(PAGE) : Buffer.alloc(PAGE));
        const child = openInChild(copy);
        expect(child.signal, `page ${page}: ${child.out}`).toBeNull();
        expect(child.out, `page ${page}`).toMatch(/^(OK \d+|ERR (Cache|Snapshot)Error )/);
        outcomes.push(child.out.slice(0, 2));
      }
      // The walk must refuse some pages (the trees'), or it checked nothing.
      expect(outcomes).toContain('ER');
    }, 300_000);

  it('a file the owner keeps committing to reads as sound, however often it is looked at', async () => {
    const root = await populatedRoot();
    const owner = spawn('node', ['--import', 'tsx', join(import.meta.dirname, 'fixtures/busy-owner.ts'), root], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      await new Promise<void>((resolve, reject) => {
        owner.stdout.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
        owner.once('exit', (code) => reject(new Error(`owner exited (${code})`)));
      });
      // What a read-only `du` does while a build runs: every look must pass, damaged never.
      const problems: string[] = [];
      const until = Date.now() + 4_000;
      let looks = 0;
      while (Date.now() < until) {
        for (const { rel } of FILES) {
          const check = checkLmdbFile(join(root, ...rel));
          if (!check.ok) problems.push(`${rel.join('/')}: ${check.reason}`);
          looks++;
        }
        await new Promise((r) => setImmediate(r));
      }
      expect(problems).toEqual([]);
      expect(looks).toBeGreaterThan(20);
    } finally {
      owner.kill('SIGKILL');
    }
  }, 60_000);
});
