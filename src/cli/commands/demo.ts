import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import { rootOption, snapshotterFrom, withSnapshotterOptions, type SnapshotterFlags } from '../options.js';
import type { CacheManager } from '../../cache/manager.js';
import type { ImmutableRef } from '../../cache/refs.js';
import { renderUsageTable } from '../usage-table.js';

interface Step {
  description: string;
  files: Record<string, string>;
}

/** A build: a chain of steps, each a layer on the one before. */
const BUILDS: { name: string; steps: Step[] }[] = [
  {
    name: 'api v1',
    steps: [
      { description: 'FROM debian:bookworm-slim', files: { 'etc/os-release': 'ID=debian\n', 'bin/sh': '#!/bin/sh\n' } },
      { description: 'RUN apt-get install -y nodejs', files: { 'usr/bin/node': 'node'.repeat(50_000) } },
      { description: 'COPY api@v1 /srv', files: { 'srv/index.js': 'console.log("v1")\n' } },
    ],
  },
  {
    name: 'api v2 (reuses the base and nodejs layers)',
    steps: [
      { description: 'FROM debian:bookworm-slim', files: { 'etc/os-release': 'ID=debian\n', 'bin/sh': '#!/bin/sh\n' } },
      { description: 'RUN apt-get install -y nodejs', files: { 'usr/bin/node': 'node'.repeat(50_000) } },
      { description: 'COPY api@v2 /srv', files: { 'srv/index.js': 'console.log("v2")\n' } },
    ],
  },
  {
    name: 'worker v1 (shares the base layer)',
    steps: [
      { description: 'FROM debian:bookworm-slim', files: { 'etc/os-release': 'ID=debian\n', 'bin/sh': '#!/bin/sh\n' } },
      { description: 'RUN apt-get install -y python3', files: { 'usr/bin/python3': 'py'.repeat(80_000) } },
    ],
  },
];

/** A cache key: the step's description on top of its parent's id, as a build system would compute. */
const cacheKey = (parent: ImmutableRef | null, step: Step) => `${parent?.id ?? 'scratch'}|${step.description}`;

async function runBuild(
  cm: CacheManager,
  index: Map<string, string>,
  steps: Step[],
  log: (line: string) => void,
): Promise<ImmutableRef> {
  let parent: ImmutableRef | null = null;
  for (const step of steps) {
    const key = cacheKey(parent, step);
    const cached = index.get(key);
    let layer: ImmutableRef;
    if (cached) {
      layer = await cm.get(cached);
      log(`  CACHED ${step.description}`);
    } else {
      const mutable = await cm.new(parent, { description: step.description });
      const mounted = await mutable.mount();
      for (const [path, content] of Object.entries(step.files)) {
        await mkdir(join(mounted.path, path, '..'), { recursive: true });
        await writeFile(join(mounted.path, path), content);
      }
      await mounted.release();
      layer = await mutable.commit();
      index.set(key, layer.id);
      log(`  BUILT  ${step.description} -> ${layer.id}`);
    }
    await parent?.release();
    parent = layer;
  }
  return parent!;
}

export function registerDemo(program: Command): void {
  withSnapshotterOptions(
    program
      .command('demo')
      .description("play an orchestrator's workload: builds that create and reuse layer chains, then disk usage")
      .addOption(rootOption()),
  ).action(async (opts: { root: string } & SnapshotterFlags) => {
    const log = (line: string) => process.stdout.write(`${line}\n`);
    // Loaded in the action: `cachekit --help` must not pay for the engine.
    const { openCacheManager } = await import('../../cache/manager.js');
    const snapshotter = snapshotterFrom(opts);
    const cm = await openCacheManager({ root: opts.root, ...(snapshotter ? { snapshotter } : {}) });
    try {
      if (cm.startup.repairs.length) log(`start-up repaired ${cm.startup.repairs.length} thing(s)`);
      // Rebuild the cache-key index from what earlier runs left, the way a build system would.
      const index = new Map<string, string>();
      const usage = await cm.diskUsage();
      const byId = new Map(usage.map((u) => [u.id, u]));
      const keyOf = (id: string): string => {
        const u = byId.get(id)!;
        return `${u.parents[0] ?? 'scratch'}|${u.description ?? ''}`;
      };
      for (const u of usage) if (!u.mutable) index.set(keyOf(u.id), u.id);
      for (const build of BUILDS) {
        log(`build ${build.name}`);
        const image = await runBuild(cm, index, build.steps, log);
        await image.release();
      }
      log('');
      log(renderUsageTable(await cm.diskUsage()));
    } finally {
      await cm.close();
    }
  });
}
