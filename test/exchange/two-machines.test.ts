import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { diffDirs } from '../snapshot/tree-compare.js';
// Exchange on containerd roots is not covered yet: the local kinds only.
import { LOCAL_SNAPSHOTTERS as SNAPSHOTTERS } from '../cache/helpers.js';
import { type RegistryServer, registryUnavailable, startRegistry } from '../remote/registry-server.js';
import { removeDir, tempDir } from './fixtures.js';

const run = promisify(execFile);
const MACHINE = join(import.meta.dirname, 'fixtures/machine.ts');
const unavailable = registryUnavailable();
if (unavailable !== undefined) console.warn(`two-machine tests skipped: ${unavailable}`);

/** Runs one step of one machine in its own process and returns what it printed. */
async function machine(step: string, root: string, kind: string, reference: string, out: string) {
  const { stdout } = await run('node', ['--import', 'tsx', MACHINE, step, root, kind, reference, out], {
    maxBuffer: 64 * 1024 * 1024,
  });
  return JSON.parse(stdout) as Record<string, unknown>;
}

type Event = { type: string; outcome?: string };
const outcomes = (events: unknown) => (events as Event[]).filter((e) => e.type === 'layer').map((e) => e.outcome);

describe.skipIf(unavailable !== undefined)('two machines share a cache through a registry', () => {
  let server: RegistryServer;
  let work: string;
  beforeAll(async () => {
    server = await startRegistry();
    work = tempDir('cachekit-two-machines-');
  });
  afterAll(async () => {
    await server?.close();
    removeDir(work);
  });

  for (const { kind, skip } of SNAPSHOTTERS) {
    it.skipIf(skip !== undefined)(`${kind}: A exports, B imports lazily and extends, A imports B's layer`, async () => {
      const reference = `${server.host}/fleet/${kind}:main`;
      const rootA = join(work, `${kind}-a`);
      const rootB = join(work, `${kind}-b`);
      const treeA = join(work, `${kind}-tree-a`);
      const a = await machine('build', rootA, kind, reference, treeA);
      expect(outcomes(a.events)).toEqual(['uploaded', 'uploaded', 'uploaded']);
      // Nothing changed: the second export pushes no blob.
      expect(outcomes(a.again)).toEqual(['exists', 'exists', 'exists']);

      const treeB = join(work, `${kind}-tree-b`);
      const b = await machine('import-extend', rootB, kind, reference, treeB);
      expect(b.statesBefore).toEqual(['remote.held', 'remote.held', 'remote.held']);
      for (const u of b.usageBefore as { size: number; remoteSize?: number }[]) {
        expect(u.size).toBe(0);
        expect(u.remoteSize).toBeGreaterThan(0);
      }
      expect(b.statesAfter).toEqual(['committed.held', 'committed.held', 'committed.held']);
      // Byte for byte, deletions, links, modes, owners and the sparse file included.
      expect(await diffDirs(treeB, treeA)).toEqual([]);
      // B's own layer is uploaded; A's three are already in the repository.
      expect(outcomes(b.exported).sort()).toEqual(['exists', 'exists', 'exists', 'uploaded']);

      const treeA2 = join(work, `${kind}-tree-a2`);
      const again = await machine('import-again', rootA, kind, reference, treeA2);
      expect(again.k4State).toBe('remote.held');
      expect(again.k3).toBe((a.ids as string[])[2]);
      expect(again.k3State).toBe('committed.held');
      // A's own record is k4's parent here: the local record of a key wins.
      expect(again.k4Parent).toBe((a.ids as string[])[2]);
      expect(readFileSync(join(treeA2, 'from-b'), 'utf8')).toBe('made on machine B\n');
      const fourth = await diffDirs(treeA2, treeA);
      expect(fourth).toHaveLength(1);
      expect(fourth[0]).toContain('from-b');
    });
  }
});
