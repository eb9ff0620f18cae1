import { readFileSync } from 'node:fs';

/**
 * The version in cachekit's own package.json. The file sits two folders up from
 * src/cli/ in a checkout and three up from dist/src/cli/ once built, so this walks
 * up to the first package.json named cachekit instead of hard-coding a depth.
 */
export function packageVersion(from: string = import.meta.url): string {
  for (let dir = new URL('./', from); ; ) {
    try {
      const pkg = JSON.parse(readFileSync(new URL('package.json', dir), 'utf8')) as {
        name?: unknown;
        version?: unknown;
      };
      if (pkg.name === 'cachekit' && typeof pkg.version === 'string') return pkg.version;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    const parent = new URL('../', dir);
    if (parent.href === dir.href) throw new Error(`cachekit's package.json not found above ${from}`);
    dir = parent;
  }
}
