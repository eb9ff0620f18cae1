import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const BIN = join(import.meta.dirname, '../../bin/cachekit.mjs');
const dir = mkdtempSync(join(tmpdir(), 'cachekit-cli-buildx-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the real bin with stdin closed (not a terminal); never throws. */
async function cachekit(...args: string[]): Promise<Outcome> {
  try {
    const { stdout, stderr } = await run('node', [BIN, ...args], { encoding: 'utf8' });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

interface UsageRow {
  id: string;
  size: number;
  description?: string;
  recordType: string;
}

const jsonLines = (text: string) =>
  text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as UsageRow & { reason: string; dryRun: boolean });

async function usage(root: string): Promise<UsageRow[]> {
  const du = await cachekit('du', '--root', root, '--format', 'json');
  expect(du.code, du.stderr).toBe(0);
  return JSON.parse(du.stdout) as UsageRow[];
}

/** The demo's five records: three builds, descriptions "COPY api@v1 /srv" and so on, every one type regular. */
async function demoRoot(name: string): Promise<string> {
  const root = join(dir, name);
  const demo = await cachekit('demo', '--root', root);
  expect(demo.code, demo.stderr).toBe(0);
  expect(await usage(root)).toHaveLength(5);
  return root;
}

let root = '';
beforeAll(async () => {
  root = await demoRoot('shared');
});

describe('prune confirmation', () => {
  it('refuses without a terminal and without --force, and leaves the root unchanged', async () => {
    const before = await usage(root);
    for (const args of [[], ['--all']]) {
      const prune = await cachekit('prune', '--root', root, ...args);
      expect(prune.code).toBe(1);
      expect(prune.stderr).toMatch(/not a terminal.*--force/);
      expect(prune.stdout).toBe('');
    }
    expect(await usage(root)).toEqual(before);
  });

  it('needs no confirmation for --dry-run, and -f removes without asking', async () => {
    const own = await demoRoot('forced');
    const dry = await cachekit('prune', '--root', own, '--dry-run', '--format', 'json');
    expect(dry.code, dry.stderr).toBe(0);
    expect(jsonLines(dry.stdout)).toHaveLength(5);
    expect(await usage(own)).toHaveLength(5);
    const forced = await cachekit('prune', '-f', '--root', own);
    expect(forced.code, forced.stderr).toBe(0);
    expect(forced.stdout).toMatch(/^ID +RECLAIMABLE +SIZE +LAST ACCESSED +REASON\n/);
    expect(await usage(own)).toHaveLength(0);
  });
});

// The prompt on a real terminal: util-linux `script` runs the bin on a pseudo-terminal and feeds it our answer.
const scriptBin = ['/usr/bin/script', '/bin/script'].find((p) => existsSync(p));
describe.skipIf(scriptBin === undefined)('prune on a pseudo-terminal (util-linux script)', () => {
  const onTerminal = (answer: string, args: string) =>
    new Promise<Outcome>((resolve) => {
      const child = execFile(
        scriptBin!,
        ['-qec', `node ${BIN} prune ${args}`, '/dev/null'],
        { encoding: 'utf8' },
        (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
      child.stdin!.end(answer);
    });

  it("asks buildx's question; anything but y keeps everything, y prunes", async () => {
    const own = await demoRoot('terminal');
    const no = await onTerminal('n\n', `--root ${own}`);
    expect(no.code).toBe(0);
    expect(no.stdout).toContain(
      'WARNING! This will remove all dangling build cache. Are you sure you want to continue? [y/N] ',
    );
    expect(await usage(own)).toHaveLength(5);
    const all = await onTerminal('\n', `--all --root ${own}`);
    expect(all.stdout).toContain(
      'WARNING! This will remove all build cache. Are you sure you want to continue? [y/N] ',
    );
    expect(await usage(own)).toHaveLength(5);
    const yes = await onTerminal('y\n', `--root ${own} --filter 'description~=v2'`);
    expect(yes.code).toBe(0);
    expect((await usage(own)).map((u) => u.description)).not.toContain('COPY api@v2 /srv');
    expect(await usage(own)).toHaveLength(4);
  });
});
if (scriptBin === undefined)
  console.warn('skipped the pseudo-terminal prompt test: util-linux script is not installed');

describe('filters as buildx reads them', () => {
  it("ANDs repeated --filter: the issue's example selects only the matching record", async () => {
    const prune = await cachekit(
      'prune',
      '--root',
      root,
      '--dry-run',
      '--format',
      'json',
      '--filter',
      'description~=v1',
      '--filter',
      'type==regular',
    );
    expect(prune.code, prune.stderr).toBe(0);
    expect(jsonLines(prune.stdout).map((r) => r.description)).toEqual(['COPY api@v1 /srv']);
    const du = await cachekit(
      'du',
      '--root',
      root,
      '--format',
      'json',
      '--filter',
      'description~=api',
      '--filter',
      'description~=v2',
    );
    expect((JSON.parse(du.stdout) as UsageRow[]).map((u) => u.description)).toEqual(['COPY api@v2 /srv']);
  });

  it('accepts key=value as equality and until=DURATION as "unused for at least"', async () => {
    const regular = await cachekit('du', '--root', root, '--format', 'json', '--filter', 'type=regular');
    expect(regular.code, regular.stderr).toBe(0);
    expect(JSON.parse(regular.stdout)).toHaveLength(5);
    const internal = await cachekit('du', '--root', root, '--format', 'json', '--filter', 'type=internal');
    expect(JSON.parse(internal.stdout)).toHaveLength(0);
    // Every record was used moments ago: none has gone unused for 24 hours, all have for 0s.
    const recent = await cachekit('prune', '--root', root, '--dry-run', '--format', 'json', '--filter', 'until=24h');
    expect(recent.code, recent.stderr).toBe(0);
    expect(jsonLines(recent.stdout)).toHaveLength(0);
    const both = await cachekit(
      'prune',
      ...['--root', root, '--dry-run', '--format', 'json', '--filter', 'type=regular', '--filter', 'until=0s'],
    );
    expect(jsonLines(both.stdout)).toHaveLength(5);
  });

  it('refuses until without a unit and a key given twice', async () => {
    const bare = await cachekit('prune', '--root', root, '--dry-run', '--filter', 'until=24');
    expect(bare.code).toBe(1);
    expect(bare.stderr).toContain('until');
    expect(bare.stderr).toContain('needs a unit');
    const twice = await cachekit('du', '--root', root, '--filter', 'type=regular', '--filter', 'type=internal');
    expect(twice.code).toBe(1);
    expect(twice.stderr).toContain('only one value');
  });
});

describe('units', () => {
  it('refuses --keep-duration without a unit, naming the flag, and takes 24h, 90m, 1h30m', async () => {
    const bare = await cachekit('prune', '--root', root, '--dry-run', '--keep-duration', '24');
    expect(bare.code).toBe(1);
    expect(bare.stderr).toContain('--keep-duration');
    expect(bare.stderr).toContain('"24"');
    for (const ok of ['24h', '90m', '1h30m']) {
      const pruned = await cachekit('prune', '--root', root, '--dry-run', '--keep-duration', ok, '--format', 'json');
      expect(pruned.code, pruned.stderr).toBe(0);
      expect(jsonLines(pruned.stdout)).toHaveLength(0);
    }
  });

  it('reads kB as docker does (1024 bytes), so a limit just above the cache in KiB prunes nothing', async () => {
    const total = (await usage(root)).reduce((n, u) => n + u.size, 0);
    const kib = Math.ceil(total / 1024);
    // Read as 1000s, `${kib}kB` would be below the total and prune; read as docker does, it is at or above it.
    expect(kib * 1000).toBeLessThan(total);
    const fits = await cachekit(
      'prune',
      ...['--root', root, '--dry-run', '--format', 'json', '--max-used-space', `${kib}kB`],
    );
    expect(fits.code, fits.stderr).toBe(0);
    expect(jsonLines(fits.stdout)).toHaveLength(0);
    const over = await cachekit(
      'prune',
      ...['--root', root, '--dry-run', '--format', 'json', '--keep-storage', `${kib - 64}KiB`],
    );
    expect(over.code, over.stderr).toBe(0);
    expect(jsonLines(over.stdout).length).toBeGreaterThan(0);
  });

  it('prints sizes as docker HumanSize does, in the table and the totals', async () => {
    const rows = await usage(root);
    const du = await cachekit('du', '--root', root);
    // 237568 bytes is "237.6kB" in docker's %.4g; an exact multiple of 1e3 drops its zeros.
    for (const u of rows) expect(du.stdout).toContain(`${Number((u.size / 1000).toPrecision(4))}kB`);
    expect(du.stdout).toMatch(/^Reclaimable:\t/m);
    expect(du.stdout).not.toMatch(/^Shared:/m); // nothing is shared: buildx prints no Shared/Private lines then
  });
});

describe('roots', () => {
  const listing = () => readdirSync(dir).sort();

  it('refuses a root that does not exist, on every command but demo, and creates nothing', async () => {
    const typo = join(dir, 'typo');
    const before = listing();
    for (const args of [
      ['du'],
      ['inspect'],
      ['watch'],
      ['prune', '-f'],
      ['prune', '--dry-run'],
      ['serve', '--port', '0'],
      ['recover', '--mode', 'lost+found'],
      ['recover', '--mode', 'rebuild-metadata'],
    ]) {
      const result = await cachekit(...args, '--root', typo);
      expect(result.code, args.join(' ')).toBe(1);
      expect(result.stderr).toContain('does not exist');
    }
    expect(listing()).toEqual(before);
  });

  it('refuses a directory that is not a cachekit root, and --create makes one', async () => {
    const empty = join(dir, 'empty');
    mkdirSync(join(empty, 'metadata'), { recursive: true });
    for (const args of [['du'], ['prune', '-f']]) {
      const result = await cachekit(...args, '--root', empty);
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/not a cachekit root/);
    }
    expect(readdirSync(join(empty, 'metadata'))).toEqual([]);
    const fresh = join(dir, 'fresh');
    const created = await cachekit('prune', '-f', '--create', '--root', fresh);
    expect(created.code, created.stderr).toBe(0);
    expect(await usage(fresh)).toEqual([]);
  });
});

describe('output shapes', () => {
  it('du --format json is one JSON array; prune --format json is one PrunedRecord per line', async () => {
    const du = await cachekit('du', '--root', root, '--format', 'json');
    const rows = JSON.parse(du.stdout) as UsageRow[];
    expect(Array.isArray(rows)).toBe(true);
    for (const u of rows) expect(Object.keys(u)).toEqual(expect.arrayContaining(['id', 'size', 'inUse', 'createdAt']));
    const prune = await cachekit('prune', '--root', root, '--dry-run', '--format', 'json');
    const lines = jsonLines(prune.stdout);
    expect(lines.map((l) => l.id).sort()).toEqual(rows.map((u) => u.id).sort());
    for (const l of lines) expect(l).toMatchObject({ dryRun: true, reason: expect.any(String) });
  });

  it('--format pretty is the verbose form; --verbose beside --format is refused as in buildx', async () => {
    const pretty = await cachekit('du', '--root', root, '--format', 'pretty');
    const verbose = await cachekit('du', '--root', root, '-v');
    expect(pretty.stdout).toMatch(/^ID: {11}\S+$/m);
    expect(pretty.stdout.replace(/Last used:.*\n/g, '')).toBe(verbose.stdout.replace(/Last used:.*\n/g, ''));
    const both = await cachekit('du', '--root', root, '--verbose', '--format', 'json');
    expect(both.code).toBe(1);
    expect(both.stderr).toContain('--format and --verbose cannot be used together');
  });
});
