/**
 * Sizing benchmark: GNU `du -s -B1` over 100 directories of 1,000 small files
 * versus the worker-pool walker over the same directories, cold (page, dentry
 * and inode caches dropped before every measurement) and warm, alternating
 * which runs first each round. Also measures how quickly an abort stops a walk.
 * Run with `npm run bench:size` (ROUNDS=n to change the round count).
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { lastValueFrom } from 'rxjs';
import { WalkProbe, sharedClock as sharedClockForBench } from '../../src/size/control-block.js';
import { SizeService } from '../../src/size/size-service.js';
import { SizeWorkerPool } from '../../src/size/pool.js';

const run = promisify(execFile);
const DIRS = 100;
const FILES = 1000;
const ROUNDS = Number(process.env.ROUNDS ?? 5);

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};
const ms = (x: number): string => `${x.toFixed(1)} ms`;

/** CPU ms (user + system) of waited-for children, from /proc (10 ms resolution). */
function childrenCpuMs(): number {
  const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ');
  // After the ") " the state is field 3; cutime and cstime are fields 16 and 17, in 1/100 s ticks.
  return (Number(fields[13]) + Number(fields[14])) * 10;
}

/** CPU ms of this process (all threads, so workers included). */
function selfCpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

const load = (): string =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');

function dropCaches(): boolean {
  try {
    execFileSync('sh', ['-c', 'sync && echo 3 > /proc/sys/vm/drop_caches'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const root = mkdtempSync(join(tmpdir(), 'cachekit-bench-size-'));
try {
  const dirs: string[] = [];
  for (let d = 0; d < DIRS; d++) {
    const dir = join(root, `d${d}`);
    mkdirSync(dir);
    for (let f = 0; f < FILES; f++) writeFileSync(join(dir, `f${f}`), 'x'.repeat(1 + ((f * 37) % 3000)));
    dirs.push(dir);
  }
  const pool = new SizeWorkerPool();
  const startedAt = performance.now();
  await pool.warm();
  const warmup = performance.now() - startedAt;
  const canDrop = dropCaches();
  console.log(
    `size-walk: ${DIRS} dirs x ${FILES} files, ${pool.size} workers (cores: ${availableParallelism()}), worker start-up ${ms(warmup)} (excluded)`,
  );
  console.log(`load average before: ${load()} (the machine is shared; wall times are noisy under load)`);
  console.log(
    canDrop
      ? 'cold: caches dropped before each measurement (sync; echo 3 > /proc/sys/vm/drop_caches)'
      : 'cold: COULD NOT drop caches (not root or /proc/sys read-only); "cold" numbers are warm',
  );

  const duTotal = async (): Promise<number> => {
    const { stdout } = await run('du', ['-s', '-B1', ...dirs], { maxBuffer: 1 << 24 });
    return stdout
      .trim()
      .split('\n')
      .reduce((sum, line) => sum + Number(line.split('\t')[0]), 0);
  };
  const engineTotal = async (): Promise<number> =>
    (await Promise.all(dirs.map((d) => pool.run(d)))).reduce((sum, u) => sum + u.size, 0);
  const service = new SizeService({ pool });
  const serviceTotal = async (): Promise<number> => {
    const last = await lastValueFrom(service.sizeMany$(dirs.map((path, i) => ({ key: `d${i}`, path }))));
    return last.progress.bytes;
  };

  const measure = async (label: string, cold: boolean): Promise<void> => {
    const times = { du: [] as number[], engine: [] as number[], service: [] as number[] };
    const cpu = { du: [] as number[], engine: [] as number[], service: [] as number[] };
    const contenders = { du: duTotal, engine: engineTotal, service: serviceTotal };
    let expected: number | undefined;
    for (let round = 0; round < ROUNDS; round++) {
      const order = (round % 2 === 0 ? ['du', 'engine', 'service'] : ['service', 'engine', 'du']) as Array<
        keyof typeof contenders
      >;
      const line: string[] = [];
      for (const name of order) {
        if (cold) dropCaches();
        const cpu0 = name === 'du' ? childrenCpuMs() : selfCpuMs();
        const t0 = performance.now();
        const total = await contenders[name]();
        const elapsed = performance.now() - t0;
        cpu[name].push((name === 'du' ? childrenCpuMs() : selfCpuMs()) - cpu0);
        expected ??= total;
        if (total !== expected) throw new Error(`${name} summed ${total} bytes, expected ${expected}`);
        times[name].push(elapsed);
        line.push(`${name} ${ms(elapsed)}`);
      }
      console.log(`${label} round ${round + 1}: ${line.join(', ')}`);
    }
    const du = median(times.du);
    const engine = median(times.engine);
    const viaService = median(times.service);
    console.log(
      `${label} median: du ${ms(du)}, engine ${ms(engine)} (ratio ${(engine / du).toFixed(2)}x du), ` +
        `SizeService.sizeMany$ ${ms(viaService)} (ratio ${(viaService / du).toFixed(2)}x du); goal <= 1.00x; bytes ${expected}`,
    );
    console.log(
      `${label} median CPU (user+sys): du ${ms(median(cpu.du))}, engine ${ms(median(cpu.engine))}, ` +
        `SizeService ${ms(median(cpu.service))} (load average now ${load()})`,
    );
  };

  await measure('cold', true);
  await measure('warm', false);

  // One tree as one job: without fan-out a single worker walks it all; with it, the pool splits it.
  for (const cold of [true, false]) {
    const label = cold ? 'single tree (cold)' : 'single tree (warm)';
    const times = { du: [] as number[], one: [] as number[], fanOut: [] as number[] };
    const contenders = {
      du: async () => Number((await run('du', ['-s', '-B1', root])).stdout.split('\t')[0]),
      one: async () => (await pool.run(root)).size,
      fanOut: async () => (await pool.run(root, { fanOut: true })).size,
    };
    for (let round = 0; round < ROUNDS; round++) {
      const order = (round % 2 === 0 ? ['du', 'one', 'fanOut'] : ['fanOut', 'one', 'du']) as Array<
        keyof typeof contenders
      >;
      const sizes = new Set<number>();
      for (const name of order) {
        if (cold) dropCaches();
        const t0 = performance.now();
        sizes.add(await contenders[name]());
        times[name].push(performance.now() - t0);
      }
      if (sizes.size !== 1) throw new Error(`${label}: totals differ: ${[...sizes].join(', ')}`);
    }
    const du = median(times.du);
    console.log(
      `${label} median: du -s ${ms(du)}, one job ${ms(median(times.one))} (ratio ${(median(times.one) / du).toFixed(2)}x du), ` +
        `fanOut ${ms(median(times.fanOut))} (ratio ${(median(times.fanOut) / du).toFixed(2)}x du)`,
    );
  }

  // Abort latency: walk the whole 100k-file tree, abort mid-walk, read the worker's own timestamps.
  for (const cold of [true, false]) {
    const seenLag: number[] = [];
    const lastCallLag: number[] = [];
    const settleLag: number[] = [];
    let idle = true;
    let callsAfter = 0;
    let lastCallAfterSeen = 0;
    for (let i = 0; i < ROUNDS; i++) {
      if (cold) dropCaches();
      const probe = new WalkProbe({ timestamps: true });
      const controller = new AbortController();
      const walk = pool.run(root, { signal: controller.signal, probe }).then(
        () => 'finished',
        () => 'aborted',
      );
      while (probe.snapshot().fsCalls < 20_000) await new Promise((r) => setTimeout(r, 1));
      controller.abort();
      const outcome = await walk;
      const settled = sharedClockForBench();
      const s = probe.snapshot();
      if (outcome !== 'aborted') throw new Error('walk finished before the abort');
      seenLag.push(s.abortSeenAt - s.abortRequestedAt);
      lastCallLag.push(s.lastFsCallAt - s.abortRequestedAt);
      settleLag.push(settled - s.abortRequestedAt);
      if (s.lastFsCallAt > s.abortSeenAt) lastCallAfterSeen += 1;
      idle &&= pool.stats().busy === 0;
      await new Promise((r) => setTimeout(r, 20));
      callsAfter += probe.snapshot().fsCalls - s.fsCalls;
    }
    const fmt = (xs: number[]): string => `median ${median(xs).toFixed(3)} ms, max ${Math.max(...xs).toFixed(3)} ms`;
    const label = cold ? 'abort (cold)' : 'abort (warm)';
    console.log(`${label}: last fs call started at abort${'+'}(${fmt(lastCallLag)}) [negative = before the abort]`);
    console.log(
      `${label}: abort→worker saw the flag and stopped ${fmt(seenLag)}; abort→promise settled ${fmt(settleLag)}`,
    );
    console.log(
      `${label}: walks with an fs call after the worker saw the abort: ${lastCallAfterSeen}/${ROUNDS}; ` +
        `fs calls after settle: ${callsAfter}; pool idle after every abort: ${idle}`,
    );
  }
  await pool.close();
} finally {
  rmSync(root, { recursive: true, force: true });
}
