/**
 * BuildKit against cachekit on the same N one-file records (issue 14). A private dockerd (Debian's
 * docker.io, installed when missing) builds N cached COPY steps with no network; cachekit makes N
 * committed records of the same files. Then, side by side in one run: the first disk usage, the
 * second one, and a prune of everything, each with the ratio BuildKit/cachekit beside the goal.
 * Nothing here touches a system docker or containerd (see private-docker.ts): every daemon, socket,
 * config and data directory lives in one temporary folder that is removed at the end.
 * Run: npm run bench:buildkit [-- --records 2000]   (needs root; may run apt-get install docker.io)
 */
import { type ChildProcess, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { lastValueFrom, toArray } from 'rxjs';
import { makeLargeRoot } from '../../scripts/make-large-root.js';
import { type CacheManager, openCacheManager } from '../../src/index.js';
import {
  type PrivateDocker,
  docker,
  dockerLogged,
  engine,
  findBinaries,
  startDocker,
  stopProcess,
  unmountLeftovers,
} from './private-docker.js';

const { values } = parseArgs({ options: { records: { type: 'string', default: '2000' } } });
const RECORDS = Number(values.records);
if (!Number.isSafeInteger(RECORDS) || RECORDS < 1) throw new Error(`--records ${values.records}: expected N >= 1`);
/** Up to this many records are made through the public API; above it the generator is much quicker. */
const API_LIMIT = 5000;
/** COPY steps per stage: each one is a layer, and overlay2 refuses images deeper than 128 layers. */
const GROUP = 100;
/** The engine API of docker 20.10; newer daemons still serve it. */
const API = '/v1.41';
const GOAL = '≥ 10× faster than BuildKit';

const time = (ms: number) => (ms < 1000 ? `${ms.toFixed(1)} ms` : `${(ms / 1000).toFixed(2)} s`);
const line = (what: string, figure: string, goal: string) =>
  console.log(`${what.padEnd(52)} ${figure.padStart(12)}   goal: ${goal}`);

/** Times one awaited call. */
async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const t = performance.now();
  const value = await fn();
  return { value, ms: performance.now() - t };
}

// --- The BuildKit side ---------------------------------------------------------------------------

const content = (i: number) => `record ${i}\n`;

/** A file of the build: taken from the context, or from an earlier stage. */
interface Source {
  from?: string;
  file: string;
}

const copy = (s: Source) => (s.from ? `COPY --from=${s.from} /${s.file} /${s.file}` : `COPY ${s.file} /${s.file}`);

/**
 * N COPY steps of f0..f(N-1), GROUP to a stage, each stage a chain of GROUP one-file records. The
 * stages are tied together by copying one file of each into a stage of the next level, until one
 * final stage is left: every step is needed by the output, and BuildKit ends up with about N
 * records (N + N/100 + ...). Aggregating one stage per file instead would make it hold 2N.
 */
function dockerfile(records: number): { text: string; steps: number; outputs: number } {
  const lines: string[] = [];
  let sources: Source[] = Array.from({ length: records }, (_, i) => ({ file: `f${i}` }));
  let steps = 0;
  for (let level = 0; sources.length > GROUP; level++) {
    const next: Source[] = [];
    for (let start = 0; start < sources.length; start += GROUP) {
      const stage = `l${level}-g${start / GROUP}`;
      const group = sources.slice(start, start + GROUP);
      lines.push(`FROM scratch AS ${stage}`, ...group.map(copy));
      steps += group.length;
      next.push({ from: stage, file: group.at(-1)!.file });
    }
    sources = next;
  }
  lines.push('FROM scratch', ...sources.map(copy));
  return { text: `${lines.join('\n')}\n`, steps: steps + sources.length, outputs: sources.length };
}

/** Builds the N records with BuildKit and exports the result to a local folder (no image, no network). */
async function buildWithBuildkit(d: PrivateDocker, dir: string): Promise<{ ms: number; steps: number }> {
  const ctx = join(dir, 'context');
  mkdirSync(ctx);
  for (let i = 0; i < RECORDS; i++) writeFileSync(join(ctx, `f${i}`), content(i));
  const { text, steps, outputs } = dockerfile(RECORDS);
  writeFileSync(join(ctx, 'Dockerfile'), text);
  const out = join(dir, 'out');
  // `-o` needs BuildKit: the 20.10 client refuses it for the classic builder, hence DOCKER_BUILDKIT=1.
  const args = ['build', '--progress=plain', '-o', `type=local,dest=${out}`, ctx];
  const { ms } = await timed(() => dockerLogged(d, args, join(dir, 'build.log')));
  const written = readdirSync(out).length;
  if (written !== outputs) throw new Error(`the build wrote ${written} files, expected ${outputs}`);
  return { ms, steps };
}

interface BuildCacheRow {
  ID: string;
  Type: string;
  Size: number;
  InUse: boolean;
}

/** BuildKit's disk usage through GET /system/df, as `docker system df -v` asks for it. */
async function buildkitDiskUsage(d: PrivateDocker): Promise<BuildCacheRow[]> {
  const res = await engine(d.sock, 'GET', `${API}/system/df`);
  if (res.status !== 200) throw new Error(`GET /system/df: ${res.status} ${res.body}`);
  return (JSON.parse(res.body) as { BuildCache: BuildCacheRow[] | null }).BuildCache ?? [];
}

/** How many rows of each record type, e.g. "regular 2020, source.local 2". */
function byType(rows: BuildCacheRow[]): string {
  const counts = new Map<string, number>();
  for (const r of rows) counts.set(r.Type, (counts.get(r.Type) ?? 0) + 1);
  return [...counts].map(([type, n]) => `${type} ${n}`).join(', ');
}

/** `docker builder prune -af`, whole command timed; its list of deleted ids and its total line. */
async function buildkitPruneAll(d: PrivateDocker): Promise<{ ms: number; deleted: number; total: string }> {
  const { value: out, ms } = await timed(() => docker(d, ['builder', 'prune', '-af']));
  const lines = out.split('\n');
  const listed = lines.indexOf('Deleted build cache objects:');
  const end = lines.indexOf('', listed + 1);
  const deleted = listed < 0 ? 0 : (end < 0 ? lines.length : end) - listed - 1;
  const total = lines.find((l) => l.startsWith('Total reclaimed space')) ?? '(no "Total reclaimed space" line)';
  return { ms, deleted, total };
}

// --- The cachekit side ---------------------------------------------------------------------------

/** N records made as a build would make them: new, write the file, commit, finalize, release. */
async function makeRecordsWithApi(root: string): Promise<void> {
  const cm = await openCacheManager({ root, snapshotter: 'native' });
  try {
    for (let i = 0; i < RECORDS; i++) {
      const ref = await cm.new(null, { description: `COPY f${i} /f${i}` });
      const mount = await ref.mount();
      await writeFile(join(mount.path, `f${i}`), content(i));
      await mount.release();
      const committed = await ref.commit();
      // Committed for good, as the generator writes them and as BuildKit's chains end up.
      await committed.finalize();
      await committed.release();
    }
  } finally {
    await cm.close();
  }
}

/** Makes the root with the API when that is quick enough, else with the generator; says which. */
async function makeCachekitRoot(root: string): Promise<{ how: string; ms: number }> {
  if (RECORDS <= API_LIMIT) {
    const { ms } = await timed(() => makeRecordsWithApi(root));
    return { how: 'the public API', ms };
  }
  const { ms } = await timed(() => makeLargeRoot({ root, records: RECORDS, snapshotter: 'native' }));
  return { how: 'scripts/make-large-root.ts', ms };
}

// --- The run -------------------------------------------------------------------------------------

interface Pair {
  what: string;
  buildkit: number;
  cachekit: number;
  goal: string;
}

function printPair(p: Pair): void {
  const ratio = p.buildkit / p.cachekit;
  const met = p.goal === GOAL ? (ratio >= 10 ? ' (met)' : ' (not met)') : '';
  console.log(
    `${p.what.padEnd(20)} BuildKit ${time(p.buildkit).padStart(10)}   cachekit ${time(p.cachekit).padStart(10)}` +
      `   ${`${ratio.toFixed(1)}x faster`.padStart(14)}   goal: ${p.goal}${met}`,
  );
}

const bins = findBinaries();
// realpath: the kernel's mount table names the real path, which the leftover sweep matches.
const scratch = realpathSync(mkdtempSync(join(tmpdir(), 'ck-bk-')));
const started: ChildProcess[] = [];
let cm: CacheManager | undefined;
try {
  const d = await startDocker(bins, scratch, started);
  const server = (await docker(d, ['version', '--format', '{{.Server.Version}} (API {{.Server.APIVersion}})'])).trim();
  const clientVersion = (await docker(d, ['version', '--format', '{{.Client.Version}}'])).trim();
  console.log(`bench:buildkit: ${RECORDS} records; private dockerd ${server}, client ${clientVersion} at ${d.client}`);

  const build = await buildWithBuildkit(d, scratch);
  line(
    `docker build, ${build.steps} COPY steps (${RECORDS} + ${build.steps - RECORDS} aggregating)`,
    time(build.ms),
    '(setup; reported)',
  );
  const root = join(scratch, 'cachekit');
  const made = await makeCachekitRoot(root);
  line(`cachekit: ${RECORDS} records made with ${made.how}`, time(made.ms), '(setup; reported)');
  // Dirty pages from both setups are written out now, not in the middle of a measurement.
  execFileSync('sync');
  const roundTrip = await timed(() => docker(d, ['version', '--format', '{{.Server.Version}}']));
  line('docker client start-up + one API call (docker version)', time(roundTrip.ms), '(in the prune time)');

  const du1 = await timed(() => buildkitDiskUsage(d));
  if (du1.value.length < RECORDS) throw new Error(`BuildKit holds ${du1.value.length} records, expected ≥ ${RECORDS}`);
  line(`BuildKit build cache records (${byType(du1.value)})`, `${du1.value.length}`, `about ${RECORDS}`);
  // A fresh manager: no size is cached in memory and none is in the metadata, so this walks.
  const open = await timed(() => openCacheManager({ root, snapshotter: 'native' }));
  cm = open.value;
  line(`cachekit open (${cm.startup.check})`, time(open.ms), '(not in the disk usage time)');
  const opened = cm;
  const cdu1 = await timed(() => opened.diskUsage());
  if (cdu1.value.length !== RECORDS) throw new Error(`cachekit lists ${cdu1.value.length} records, made ${RECORDS}`);

  const du2 = await timed(() => buildkitDiskUsage(d));
  const cdu2 = await timed(() => opened.diskUsage());
  if (du2.value.length !== du1.value.length || cdu2.value.length !== RECORDS)
    throw new Error('the second disk usage lists other records than the first');

  const prune = await buildkitPruneAll(d);
  const cprune = await timed(() => lastValueFrom(opened.prune({ all: true }).pipe(toArray())));
  const left = await buildkitDiskUsage(d);
  const cleft = await opened.diskUsage();
  await opened.close();
  cm = undefined;
  if (prune.deleted < RECORDS) throw new Error(`BuildKit's prune deleted ${prune.deleted}, expected ≥ ${RECORDS}`);
  if (cprune.value.length !== RECORDS) throw new Error(`cachekit pruned ${cprune.value.length}, expected ${RECORDS}`);
  if (cleft.length !== 0) throw new Error(`cachekit still lists ${cleft.length} records after prune all`);
  console.log(`BuildKit prune: ${prune.deleted} build cache objects deleted, ${left.length} left; ${prune.total}`);
  console.log(`cachekit prune: ${cprune.value.length} records removed, 0 left`);

  console.log(
    `N = ${RECORDS}. Disk usage: BuildKit through GET ${API}/system/df on the unix socket (what docker system df -v` +
      ' asks), cachekit diskUsage(); prune: the whole `docker builder prune -af` command, cachekit prune({ all: true }).',
  );
  printPair({ what: 'first disk usage', buildkit: du1.ms, cachekit: cdu1.ms, goal: GOAL });
  printPair({ what: 'second disk usage', buildkit: du2.ms, cachekit: cdu2.ms, goal: '(no goal; reported)' });
  printPair({ what: 'prune all', buildkit: prune.ms, cachekit: cprune.ms, goal: GOAL });
} finally {
  await cm?.close().catch((e: unknown) => console.error(`cachekit close: ${String(e)}`));
  // dockerd before its containerd, which it talks to while shutting down.
  for (const child of started.reverse()) await stopProcess(child);
  const leftovers = await unmountLeftovers(scratch);
  if (leftovers > 0) console.log(`bench:buildkit: unmounted ${leftovers} mounts dockerd left in its folder`);
  rmSync(scratch, { recursive: true, force: true });
}
