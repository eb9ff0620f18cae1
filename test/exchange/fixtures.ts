import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lastValueFrom, toArray } from 'rxjs';
import type { CacheManager, ImmutableRef } from '../../src/index.js';
import { changeChild, makeParent } from '../remote/layer-fixtures.js';

export const tempDir = (prefix: string) => mkdtempSync(join(tmpdir(), prefix));
export const removeDir = (dir: string) => rmSync(dir, { recursive: true, force: true });

/** Runs an exchange stream to its end and returns every progress event. */
export const collect = <T>(stream: import('rxjs').Observable<T>): Promise<T[]> => lastValueFrom(stream.pipe(toArray()));

/**
 * A three-layer chain with keys k1..k3: the parent tree (files, modes, a symlink, hard links), the child's
 * changes (deletions of parent files, replaced dirs, an empty dir, a 64 MiB sparse file), then a small third layer.
 */
export async function buildChain(cm: CacheManager, prefix = 'k'): Promise<ImmutableRef[]> {
  const refs: ImmutableRef[] = [];
  let parent: ImmutableRef | null = null;
  for (let i = 1; i <= 3; i++) {
    const m = await cm.new(parent, { key: `${prefix}${i}`, description: `layer ${i}` });
    const mnt = await m.mount();
    if (i === 1) await makeParent(mnt.path);
    if (i === 2) await changeChild(mnt.path);
    if (i === 3) {
      const { writeFile, rm } = await import('node:fs/promises');
      await writeFile(join(mnt.path, 'third'), 'layer three\n');
      await rm(join(mnt.path, 'bin/tool-alias'));
    }
    await mnt.release();
    const ref = await m.commit();
    await ref.finalize();
    refs.push(ref);
    parent = ref;
  }
  return refs;
}
