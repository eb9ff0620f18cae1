import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';

/**
 * A lockfile for the consumer app, so `npm ci --offline` installs it from the npm cache alone.
 * `npm ci` of the project caches every tarball but no registry metadata, and a plain
 * `npm install <tarball>` needs that metadata to resolve the dependency ranges. The app's
 * lock pins cachekit's runtime dependencies to exactly the entries of the project's lock
 * (the same tarballs, by integrity), laid out as the project's lock lays them out.
 */

interface LockEntry {
  version?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  [field: string]: unknown;
}

interface Lock {
  name: string;
  lockfileVersion: number;
  requires?: boolean;
  packages: Record<string, LockEntry>;
}

/** Where Node would find `name` from the package installed at `from` ('' is the root). */
function locate(packages: Lock['packages'], from: string, name: string): string | undefined {
  for (let dir = from; ; ) {
    const candidate = dir === '' ? `node_modules/${name}` : `${dir}/node_modules/${name}`;
    if (packages[candidate]) return candidate;
    if (dir === '') return undefined;
    const cut = dir.lastIndexOf('/node_modules/');
    dir = cut < 0 ? '' : dir.slice(0, cut);
  }
}

/** The project's lock entries that `roots` (resolved from the top) need, transitively. */
function closure(packages: Lock['packages'], roots: readonly string[]): Record<string, LockEntry> {
  const picked: Record<string, LockEntry> = {};
  const queue = roots.map((name) => ({ from: '', name, optional: false }));
  while (queue.length > 0) {
    const { from, name, optional } = queue.shift()!;
    const path = locate(packages, from, name);
    if (path === undefined) {
      if (optional) continue;
      throw new Error(`the project's package-lock.json has no entry for ${name} (needed from ${from || 'the root'})`);
    }
    if (picked[path]) continue;
    // In the app these are production packages, whatever the project used them for.
    const { dev: _dev, devOptional: _devOptional, ...entry } = packages[path]!;
    picked[path] = entry;
    for (const dep of Object.keys(entry.dependencies ?? {})) queue.push({ from: path, name: dep, optional: false });
    for (const dep of Object.keys(entry.optionalDependencies ?? {}))
      queue.push({ from: path, name: dep, optional: true });
    for (const dep of Object.keys(entry.peerDependencies ?? {})) queue.push({ from: path, name: dep, optional: true });
  }
  return picked;
}

export interface AppManifests {
  packageJson: Record<string, unknown>;
  lock: Lock;
}

/**
 * package.json and package-lock.json of an app in `appDir` that depends on the tarball
 * and on `extra` packages (names the project's lock has, at their locked versions).
 */
export function appManifests(repo: string, tarball: string, appDir: string, extra: readonly string[]): AppManifests {
  const project = JSON.parse(readFileSync(join(repo, 'package-lock.json'), 'utf8')) as Lock;
  const manifest = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as LockEntry & { name: string };
  const spec = `file:${join('..', basename(tarball))}`;
  if (!appDir.endsWith('/app')) throw new Error(`the app must sit beside the tarball: ${appDir}`);
  const runtime = Object.keys(manifest.dependencies ?? {});
  const packages = closure(project.packages, [...runtime, ...extra]);
  const dependencies: Record<string, string> = { cachekit: spec };
  for (const name of extra) dependencies[name] = packages[`node_modules/${name}`]!.version!;
  const integrity = `sha512-${createHash('sha512').update(readFileSync(tarball)).digest('base64')}`;
  const cachekit: LockEntry = {
    version: manifest.version,
    resolved: spec,
    integrity,
    license: manifest['license'],
    dependencies: manifest.dependencies,
    bin: manifest['bin'],
    engines: manifest['engines'],
  };
  const packageJson = { name: 'consumer-app', private: true, type: 'module', dependencies };
  const lock: Lock = {
    name: 'consumer-app',
    lockfileVersion: 3,
    requires: true,
    packages: { '': { name: 'consumer-app', dependencies }, 'node_modules/cachekit': cachekit, ...packages },
  };
  return { packageJson, lock };
}
