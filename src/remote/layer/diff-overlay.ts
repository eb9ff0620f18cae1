import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { getAttribute } from '@napi-rs/xattr';
import { joinRel, type LayerChange, sortNames } from './changes.js';
import { LayerError } from './errors.js';

/** overlayfs marks a directory that hides everything below it with this xattr set to "y". */
export const OVERLAY_OPAQUE_XATTR = 'trusted.overlay.opaque';

/**
 * The changes an overlayfs upper directory holds, converted to OCI form: a whiteout (a character
 * device 0/0) becomes `.wh.<name>`, an opaque directory gets `.wh..wh..opq`; everything else in
 * the upper directory is new or changed and is emitted as it is.
 */
export async function* diffOverlayUpper(upper: string): AsyncGenerator<LayerChange> {
  const top = await lstat(upper).catch((err: unknown) => {
    throw new LayerError('SOURCE_INVALID', upper, 'cannot read the upper directory', { cause: err });
  });
  if (!top.isDirectory()) throw new LayerError('SOURCE_INVALID', upper, 'not a directory');
  yield* walk('', upper);
}

async function* walk(rel: string, dir: string): AsyncGenerator<LayerChange> {
  const names = sortNames(await readdir(dir));
  const stats = await Promise.all(names.map((n) => lstat(join(dir, n), { bigint: true })));
  for (let i = 0; i < names.length; i++) {
    const st = stats[i]!;
    if (st.isCharacterDevice() && st.rdev === 0n) yield { kind: 'whiteout', path: joinRel(rel, names[i]!) };
  }
  for (let i = 0; i < names.length; i++) {
    const stat = stats[i]!;
    const source = join(dir, names[i]!);
    const path = joinRel(rel, names[i]!);
    if (stat.isCharacterDevice() && stat.rdev === 0n) continue;
    yield { kind: 'entry', path, source, stat };
    if (!stat.isDirectory()) continue;
    if (await isOpaque(source)) yield { kind: 'opaque', path };
    yield* walk(path, source);
  }
}

async function isOpaque(dir: string): Promise<boolean> {
  try {
    const value = await getAttribute(dir, OVERLAY_OPAQUE_XATTR);
    return value !== null && value.toString('utf8') === 'y';
  } catch {
    // A filesystem without trusted xattrs (or without permission to read them) has no opaque dirs.
    return false;
  }
}
