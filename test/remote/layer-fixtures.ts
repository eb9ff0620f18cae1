import { execFile } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { chmod, chown, lstat, mkdir, open, readdir, rm, symlink, link, writeFile, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { extract as tarExtract } from 'tar-stream';
import { type Compression, decompressor } from '../../src/remote/layer/index.js';

export const exec = promisify(execFile);

/** A copy that keeps modes, owners, times, hard links and holes, as the native snapshotter makes one. */
export async function copyTree(from: string, to: string): Promise<void> {
  await exec('cp', ['-a', '--sparse=always', '--no-target-directory', from, to]);
}

/** A parent tree with the kinds of entries a build leaves: nested files, links, modes, a file to replace. */
export async function makeParent(dir: string): Promise<void> {
  await mkdir(join(dir, 'etc/conf.d'), { recursive: true });
  await writeFile(join(dir, 'etc/hosts'), '127.0.0.1 localhost\n');
  await writeFile(join(dir, 'etc/conf.d/remove-me'), 'old\n');
  await writeFile(join(dir, 'etc/conf.d/keep'), 'keep\n');
  await mkdir(join(dir, 'var/cache/pkgs'), { recursive: true });
  for (let i = 0; i < 5; i++) await writeFile(join(dir, `var/cache/pkgs/p${i}`), `package ${i}\n`.repeat(100));
  await writeFile(join(dir, 'becomes-dir'), 'a file for now\n');
  await mkdir(join(dir, 'becomes-file'));
  await writeFile(join(dir, 'becomes-file/inner'), 'x');
  await symlink('etc/hosts', join(dir, 'hosts-link'));
  await writeFile(join(dir, 'shared-a'), 'linked twice\n');
  await link(join(dir, 'shared-a'), join(dir, 'shared-b'));
  await writeFile(join(dir, 'script.sh'), '#!/bin/sh\necho hi\n', { mode: 0o755 });
}

/** The child's own changes, made in a copy of the parent. */
export async function changeChild(dir: string): Promise<void> {
  await writeFile(join(dir, 'etc/hosts'), '127.0.0.1 localhost build\n');
  await rm(join(dir, 'etc/conf.d/remove-me'));
  await rm(join(dir, 'var/cache'), { recursive: true });
  await rm(join(dir, 'becomes-dir'));
  await mkdir(join(dir, 'becomes-dir'));
  await writeFile(join(dir, 'becomes-dir/now-inside'), 'inside\n');
  await rm(join(dir, 'becomes-file'), { recursive: true });
  await writeFile(join(dir, 'becomes-file'), 'was a directory\n');
  await rm(join(dir, 'hosts-link'));
  await symlink('../elsewhere/hosts', join(dir, 'etc/rel-link'));
  await symlink('/etc/conf.d/keep', join(dir, 'abs-link'));
  await symlink('etc/conf.d', join(dir, 'hosts-link'));
  await mkdir(join(dir, 'bin'));
  await writeFile(join(dir, 'bin/tool'), 'tool binary\n');
  await link(join(dir, 'bin/tool'), join(dir, 'bin/tool-alias'));
  await link(join(dir, 'bin/tool'), join(dir, 'etc/tool-too'));
  await mkdir(join(dir, 'empty/nested-empty'), { recursive: true });
  await writeFile(join(dir, 'secret'), 'private\n', { mode: 0o600 });
  await chmod(join(dir, 'secret'), 0o600);
  await writeFile(join(dir, 'setuid'), 'suid\n');
  await chmod(join(dir, 'setuid'), 0o4755);
  await chmod(join(dir, 'script.sh'), 0o700);
  await writeFile(join(dir, 'no-access'), 'locked\n');
  await chmod(join(dir, 'no-access'), 0o000);
  if (process.getuid?.() === 0) await chown(join(dir, 'etc/conf.d/keep'), 1234, 5678);
  // 64 MiB apparent size with 3 small islands of data.
  const fh = await open(join(dir, 'sparse.img'), 'w');
  await fh.truncate(64 * 1024 * 1024);
  for (const off of [0, 20 * 1024 * 1024 + 17, 64 * 1024 * 1024 - 5]) await fh.write(Buffer.from('DATA!'), 0, 5, off);
  await fh.close();
  // A rewrite with a whole-second mtime equal to the parent's: only the bytes can tell it changed.
  await writeFile(join(dir, 'shared-a'), 'LINKED TWICE\n');
  const when = new Date('2020-01-02T03:04:05Z');
  await utimes(join(dir, 'shared-a'), when, when);
}

/** mtimes (whole seconds) of every non-symlink path, for comparing what the tar carries. */
export async function mtimes(root: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  const visit = async (rel: string) => {
    const abs = rel === '' ? root : join(root, rel);
    const st = await lstat(abs);
    if (rel !== '' && !st.isSymbolicLink()) out[rel] = Math.floor(st.mtimeMs / 1000);
    if (st.isDirectory()) for (const n of await readdir(abs)) await visit(rel === '' ? n : `${rel}/${n}`);
  };
  await visit('');
  return out;
}

/** The entry names and types of a layer blob on disk. */
export async function listLayer(path: string, compression: Compression): Promise<Map<string, string>> {
  const ex = tarExtract();
  createReadStream(path).pipe(decompressor(compression)).pipe(ex);
  const out = new Map<string, string>();
  for await (const entry of ex) {
    out.set(entry.header.name, entry.header.type === 'link' ? `link:${entry.header.linkname}` : entry.header.type);
    entry.resume();
  }
  return out;
}

export { createReadStream, createWriteStream };
