import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rmdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative, sep } from 'node:path';
import { promisify } from 'node:util';
import type { Mount } from './types.js';

const execFileAsync = promisify(execFile);

/** A mount or unmount that the system refused; carries mount(8)'s message. */
export class MountError extends Error {
  override readonly name = 'MountError';
  constructor(
    readonly target: string,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`mount at ${target}: ${reason}`, options);
  }
}

async function run(cmd: string, args: string[], target: string, cwd?: string): Promise<void> {
  try {
    await execFileAsync(cmd, args, cwd === undefined ? {} : { cwd });
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr?.trim();
    throw new MountError(target, `${cmd} ${args.join(' ')} failed: ${stderr || (err as Error).message}`, {
      cause: err,
    });
  }
}

/** The kernel copies mount data into one page; longer option strings are refused. */
const MOUNT_DATA_LIMIT = 4096 - 1;

function commonDir(paths: string[]): string {
  let prefix = dirname(paths[0]!);
  while (!paths.every((p) => p === prefix || p.startsWith(prefix + sep)) && prefix !== sep) prefix = dirname(prefix);
  return prefix;
}

/**
 * When the options are too long, rewrites lowerdir paths relative to their
 * common directory and runs mount(8) there (containerd's trick for deep chains).
 */
export function compactOverlayOptions(options: string[]): { options: string[]; cwd?: string } {
  if (options.join(',').length <= MOUNT_DATA_LIMIT) return { options };
  const at = options.findIndex((o) => o.startsWith('lowerdir='));
  if (at < 0) return { options };
  const lowers = options[at]!.slice('lowerdir='.length).split(':');
  const cwd = commonDir(lowers);
  const out = [...options];
  out[at] = `lowerdir=${lowers.map((l) => relative(cwd, l)).join(':')}`;
  return { options: out, cwd };
}

async function mountOne(m: Mount, target: string): Promise<void> {
  if (m.type === 'bind') {
    const recursive = m.options.includes('rbind');
    await run('mount', [recursive ? '--rbind' : '--bind', m.source, target], target);
    // A bind mount ignores ro on creation; only a remount makes it read-only.
    if (m.options.includes('ro')) {
      try {
        await run('mount', ['-o', 'remount,bind,ro', target], target);
      } catch (err) {
        await unmount(target).catch(() => undefined);
        throw err;
      }
    }
    return;
  }
  const { options, cwd } = compactOverlayOptions(m.options);
  const args = ['-t', m.type];
  if (options.length > 0) args.push('-o', options.join(','));
  args.push(m.source, target);
  await run('mount', args, target, cwd);
}

/** Mounts each mount on target in order; on failure undoes the ones already made. */
export async function mountAll(mounts: readonly Mount[], target: string): Promise<void> {
  let done = 0;
  try {
    for (const m of mounts) {
      await mountOne(m, target);
      done++;
    }
  } catch (err) {
    for (; done > 0; done--) await unmount(target).catch(() => undefined);
    throw err;
  }
}

/**
 * Unmounts target. A plain umount is tried first because `umount -R` reads the
 * whole mount table and is several times slower; it is the fallback for an
 * rbind mount that carried submounts along.
 */
export async function unmount(target: string): Promise<void> {
  try {
    await run('umount', [target], target);
  } catch {
    await run('umount', ['-R', target], target);
  }
}

/** Mounts on a fresh temporary directory, runs fn there, then unmounts and removes it. */
export async function withMount<T>(mounts: readonly Mount[], fn: (root: string) => Promise<T> | T): Promise<T> {
  const target = await mkdtemp(join(tmpdir(), 'cachekit-mount-'));
  try {
    await mountAll(mounts, target);
    try {
      return await fn(target);
    } finally {
      await unmount(target);
    }
  } finally {
    await rmdir(target).catch(() => undefined);
  }
}

/** Mount points at or below `dir`, deepest first, from the kernel's table (octal escapes decoded). */
export async function mountPointsUnder(dir: string): Promise<string[]> {
  return (await mountPointsBelow([dir])).get(dir) ?? [];
}

/**
 * For each directory, the mount points at or below it, deepest first, from one read of the kernel's
 * table; directories with none are absent.
 */
export async function mountPointsBelow(dirs: readonly string[]): Promise<Map<string, string[]>> {
  const found = new Map<string, string[]>();
  let table: string;
  try {
    table = await readFile('/proc/self/mountinfo', 'utf8');
  } catch {
    return found;
  }
  const decode = (field: string) =>
    field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(Number.parseInt(oct, 8)));
  const points = new Set(
    table
      .split('\n')
      .map((line) => line.split(' ')[4])
      .filter((field): field is string => field !== undefined)
      .map(decode),
  );
  for (const dir of dirs) {
    const under = [...points].filter((point) => point === dir || point.startsWith(dir + sep));
    if (under.length > 0)
      found.set(
        dir,
        under.sort((a, b) => b.length - a.length),
      );
  }
  return found;
}
