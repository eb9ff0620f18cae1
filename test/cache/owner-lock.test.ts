import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { isCacheError } from '../../src/cache/errors.js';
import { openCacheManager } from '../../src/index.js';
import { buildPlain } from './fixtures/build-plain.js';
import { acquireOwnerLock, LockFileError, lockHolder, type OwnerLock } from '../../src/cache/owner-lock.js';

// Plain JavaScript: the race test starts 25 processes, and tsx would triple their start-up.
const RACER = buildPlain(join(import.meta.dirname, 'fixtures/lock-racer.ts'), 'lock-racer');
const BIN = join(import.meta.dirname, '../../bin/cachekit.mjs');

interface Reply {
  type: string;
  pid: number;
  ok?: boolean;
  name?: string;
  code?: string;
  problem?: string;
  message?: string;
  holder?: { held: boolean; owner?: { pid: number } } | null;
  sleeper?: number;
}

/** A contender process (see the fixture), optionally wrapped, e.g. in `unshare`. */
class Racer {
  readonly child: ChildProcess;
  readonly exited: Promise<void>;
  private readonly waiting: ((r: Reply) => void)[] = [];
  private readonly replies: Reply[] = [];

  constructor(wrapper: string[] = []) {
    const argv = [...wrapper, process.execPath, RACER];
    this.child = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'inherit'] });
    this.exited = new Promise((done) => this.child.once('exit', () => done()));
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      const reply = JSON.parse(line) as Reply;
      const waiter = this.waiting.shift();
      if (waiter) waiter(reply);
      else this.replies.push(reply);
    });
  }

  /** The next reply, or a rejection after `ms` (a hang fails the test instead of stalling it). */
  next(ms = 30_000): Promise<Reply> {
    const ready = this.replies.shift();
    if (ready) return Promise.resolve(ready);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no reply from racer within ${ms} ms`)), ms);
      this.waiting.push((r) => {
        clearTimeout(timer);
        resolve(r);
      });
      this.exited.then(() => reject(new Error('racer exited before replying')));
    });
  }

  ask(line: string, ms?: number): Promise<Reply> {
    this.child.stdin!.write(`${line}\n`);
    return this.next(ms);
  }

  async kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.exited;
  }
}

const racers: Racer[] = [];
const roots: string[] = [];
const locks: OwnerLock[] = [];

async function startRacer(wrapper?: string[]): Promise<{ racer: Racer; ready: Reply }> {
  const racer = new Racer(wrapper);
  racers.push(racer);
  const ready = await racer.next(60_000);
  expect(ready.type).toBe('ready');
  return { racer, ready };
}

function tempRoot(): string {
  const root = mkdtempSync(join(tmpdir(), 'cachekit-lock-'));
  roots.push(root);
  return root;
}

function take(root: string): OwnerLock {
  const lock = acquireOwnerLock(root);
  locks.push(lock);
  return lock;
}

/** A start time a little ahead, shared by every racer of a round. */
const startAt = (ms = 60) => Math.ceil(performance.timeOrigin + performance.now() + ms);

afterEach(async () => {
  for (const lock of locks.splice(0)) lock.release();
  await Promise.all(racers.splice(0).map((r) => r.kill()));
  for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true });
});

describe('owner lock across processes', () => {
  it('20 processes opening one root at once get exactly one owner, round after round', async () => {
    const ROUNDS = 50;
    // Every tenth round's winner is SIGKILLed instead of releasing; its replacements start up front.
    const KILL_EVERY = 10;
    const root = tempRoot();
    const started = await Promise.all(Array.from({ length: 20 + ROUNDS / KILL_EVERY }, () => startRacer()));
    let field = started.slice(0, 20).map((s) => s.racer);
    const spares = started.slice(20).map((s) => s.racer);
    for (let round = 0; round < ROUNDS; round++) {
      const at = startAt();
      const results = await Promise.all(field.map((r) => r.ask(`go ${root} ${at}`)));
      const owners = results.filter((r) => r.ok);
      expect(owners, `round ${round}`).toHaveLength(1);
      for (const loser of results.filter((r) => !r.ok)) {
        expect(loser.code).toBe('LOCKED');
        expect(loser.message).toContain(root);
      }
      const winner = field.find((r) => r.child.pid === owners[0]!.pid)!;
      expect(lockHolder(root)).toMatchObject({ held: true, owner: { pid: winner.child.pid } });
      if (round % KILL_EVERY === 0) {
        // A dead owner's lock goes with it: the next round must find a free root at once.
        await winner.kill();
        field = [...field.filter((r) => r !== winner), spares.pop()!];
      } else {
        expect((await winner.ask('release')).ok).toBe(true);
      }
      expect(lockHolder(root)?.held).toBe(false);
    }
  }, 180_000);

  it('two pid namespaces where both contenders are pid 1 still get one owner', async (ctx) => {
    const wrapper = ['unshare', '--pid', '--fork', '--kill-child', '--mount-proc'];
    try {
      execFileSync(wrapper[0]!, [...wrapper.slice(1), 'true'], { stdio: 'pipe' });
    } catch (err) {
      console.warn(`pid namespace test skipped: unshare --pid --fork --mount-proc is unavailable (${String(err)})`);
      ctx.skip();
    }
    const root = tempRoot();
    const [a, b] = await Promise.all([startRacer(wrapper), startRacer(wrapper)]);
    expect([a.ready.pid, b.ready.pid]).toEqual([1, 1]);
    const at = startAt(100);
    const results = await Promise.all([a.racer.ask(`go ${root} ${at}`), b.racer.ask(`go ${root} ${at}`)]);
    expect(results.filter((r) => r.ok)).toHaveLength(1);
    const loser = results.find((r) => !r.ok)!;
    expect(loser.code).toBe('LOCKED');
    expect(loser.message).toContain(root);
    // Whether the winner had written its record yet or not, the loser's words must not claim it is alone.
    if (!loser.message!.includes('does not say')) {
      expect(loser.message).toContain('process 1 ');
      expect(loser.message).toContain('another pid namespace');
    }
    // And from the host's namespace, the same: held, by someone who calls itself pid 1.
    expect(lockHolder(root)).toMatchObject({ held: true, owner: { pid: 1 } });
    const err = (() => {
      try {
        take(root);
      } catch (e) {
        return e;
      }
    })();
    expect(isCacheError(err, 'LOCKED')).toBe(true);
    expect((err as Error).message).toMatch(/process 1 .*another pid namespace/);
  }, 120_000);

  it('a SIGKILLed owner is replaced at once, even while a child it spawned lives on', async () => {
    const root = tempRoot();
    const { racer } = await startRacer();
    expect((await racer.ask(`go ${root} 0`)).ok).toBe(true);
    const sleeper = (await racer.ask('sleeper')).sleeper!;
    try {
      expect(() => take(root)).toThrow(`process ${racer.child.pid}`);
      await racer.kill();
      // The LOCK still names the dead owner, but nobody holds it.
      expect(lockHolder(root)).toMatchObject({ held: false, owner: { pid: racer.child.pid } });
      const lock = take(root);
      expect(lockHolder(root)).toMatchObject({ held: true, owner: { pid: process.pid } });
      lock.release();
    } finally {
      process.kill(sleeper, 'SIGKILL');
    }
  }, 60_000);

  it('release() lets go of its own lock only, and never removes LOCK', async () => {
    const root = tempRoot();
    const first = take(root);
    first.release();
    expect(existsSync(join(root, 'LOCK'))).toBe(true);
    const { racer } = await startRacer();
    expect((await racer.ask(`go ${root} 0`)).ok).toBe(true);
    first.release();
    expect(existsSync(join(root, 'LOCK'))).toBe(true);
    expect(readFileSync(join(root, 'LOCK'), 'utf8')).toContain(`"pid":${racer.child.pid}`);
    expect(() => take(root)).toThrow(`process ${racer.child.pid}`);
    expect(lockHolder(root)).toMatchObject({ held: true, owner: { pid: racer.child.pid } });
  }, 60_000);

  it('a look from the owner process itself does not drop its lock; a second open there is LOCKED', async () => {
    const root = tempRoot();
    take(root);
    expect(lockHolder(root)).toMatchObject({ held: true, owner: { pid: process.pid } });
    expect(() => take(root)).toThrow(/already open in this process/);
    const { racer } = await startRacer();
    const result = await racer.ask(`go ${root} 0`);
    expect(result).toMatchObject({ ok: false, code: 'LOCKED' });
    expect(result.message).toContain(`process ${process.pid}`);
  }, 60_000);
});

describe('a bad LOCK file', () => {
  /** Both the owner open and the read-only look refuse it, with a typed error naming the path. */
  function expectRefused(root: string, problem: string, reason: RegExp): void {
    const path = join(root, 'LOCK');
    for (const attempt of [() => take(root), () => lockHolder(root)]) {
      let err: unknown;
      try {
        attempt();
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(LockFileError);
      expect(isCacheError(err, 'INVALID')).toBe(true);
      expect((err as LockFileError).problem).toBe(problem);
      expect((err as Error).message).toContain(path);
      expect((err as Error).message).toMatch(reason);
    }
  }

  it('a symlink is refused and its target left untouched', () => {
    const root = tempRoot();
    const target = join(root, 'precious');
    writeFileSync(target, 'do not truncate me');
    symlinkSync(target, join(root, 'LOCK'));
    expectRefused(root, 'symlink', /symbolic link/);
    expect(readFileSync(target, 'utf8')).toBe('do not truncate me');
    // A dangling one must not be created through either.
    rmSync(join(root, 'LOCK'));
    symlinkSync(join(root, 'made-through-link'), join(root, 'LOCK'));
    expectRefused(root, 'symlink', /symbolic link/);
    expect(existsSync(join(root, 'made-through-link'))).toBe(false);
  });

  it('a directory is refused', () => {
    const root = tempRoot();
    mkdirSync(join(root, 'LOCK'));
    expectRefused(root, 'not-regular', /directory/);
  });

  it('a huge file is refused without being read', () => {
    const root = tempRoot();
    writeFileSync(join(root, 'LOCK'), '');
    truncateSync(join(root, 'LOCK'), 4 * 1024 ** 3);
    expectRefused(root, 'too-large', /4294967296 bytes/);
  });

  it('a character device like /dev/zero is refused', (ctx) => {
    const root = tempRoot();
    try {
      execFileSync('mknod', [join(root, 'LOCK'), 'c', '1', '5'], { stdio: 'pipe' });
    } catch (err) {
      console.warn(`character device case skipped: mknod is not allowed here (${String(err)})`);
      ctx.skip();
    }
    expectRefused(root, 'not-regular', /character device/);
  });

  it('a FIFO is refused promptly by the owner open, the look and the CLI', async () => {
    const root = tempRoot();
    await (await openCacheManager({ root, snapshotter: 'native' })).close();
    rmSync(join(root, 'LOCK'));
    execFileSync('mkfifo', [join(root, 'LOCK')]);
    // In a child, so that a hang fails the test instead of stalling the whole run.
    const { racer } = await startRacer();
    for (const command of [`go ${root} 0`, `look ${root}`]) {
      const reply = await racer.ask(command, 20_000);
      expect(reply).toMatchObject({ ok: false, name: 'LockFileError', code: 'INVALID', problem: 'not-regular' });
      expect(reply.message).toContain(join(root, 'LOCK'));
      expect(reply.message).toContain('FIFO');
    }
    const cli = await promisify(execFile)('node', [BIN, 'inspect', '--root', root], { timeout: 60_000 }).catch(
      (e: { code?: number; stderr?: string; killed?: boolean }) => e,
    );
    expect((cli as { killed?: boolean }).killed).toBeFalsy();
    expect((cli as { code?: number }).code).toBe(1);
    expect((cli as { stderr?: string }).stderr).toMatch(new RegExp(`${join(root, 'LOCK')} is a FIFO`));
  }, 120_000);
});
