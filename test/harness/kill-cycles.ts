/**
 * Kill cycles: start the workload on a root, SIGKILL it at a seeded random moment, check the root.
 * A root lives for a few cycles, so each owner starts from what the last one left behind.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildPlain } from '../cache/fixtures/build-plain.js';
import { Expectations } from './acks.js';
import { checkRoot, mountsUnder } from './check-root.js';
import { rng } from './tree-hash.js';

export interface KillRunOptions {
  kind: 'native' | 'overlay';
  seed: number;
  kills: number;
  /** Cycles on one root before a fresh one. */
  cyclesPerRoot?: number;
  /**
   * Kill this many ms after the owner is ready and has acknowledged a seeded number (0-39) of
   * operations (a share of kills land during start-up instead).
   */
  delay?: [number, number];
  onCycle?: (cycle: CycleResult) => void;
}

export interface CycleResult {
  cycle: number;
  seed: number;
  delayMs: number;
  acks: number;
  records: number;
  verified: number;
  repairs: number;
  problems: string[];
  untyped: string[];
}

export interface KillRunSummary {
  kind: 'native' | 'overlay';
  seed: number;
  kills: number;
  acks: number;
  verified: number;
  repairs: number;
  failed: CycleResult[];
  untyped: string[];
}

let workload: string | undefined;
function workloadScript(): string {
  workload ??= buildPlain(join(import.meta.dirname, 'fixtures/workload.ts'), 'harness-workload');
  return workload;
}

export async function runKillCycles(opts: KillRunOptions): Promise<KillRunSummary> {
  const random = rng(opts.seed);
  const perRoot = opts.cyclesPerRoot ?? 5;
  const [lo, hi] = opts.delay ?? [50, 400];
  const summary: KillRunSummary = {
    kind: opts.kind,
    seed: opts.seed,
    kills: 0,
    acks: 0,
    verified: 0,
    repairs: 0,
    failed: [],
    untyped: [],
  };
  let base = '';
  let root = '';
  let exp = new Expectations();
  try {
    for (let cycle = 0; cycle < opts.kills; cycle++) {
      if (cycle % perRoot === 0) {
        if (base) removeRoot(base);
        base = mkdtempSync(join(tmpdir(), `cachekit-kill-${opts.kind}-`));
        root = join(base, 'cache');
        exp = new Expectations();
      }
      const seed = Math.floor(random() * 2 ** 31);
      const delayMs = Math.round(lo + random() * (hi - lo));
      const duringStart = random() < 0.15;
      // Progress first, then time: on a loaded machine a kill at a fixed delay would land before any work.
      const afterAcks = Math.floor(random() * 40);
      const acksPath = join(base, `acks-${cycle}.jsonl`);
      const selfExit = await runAndKill(
        root,
        opts.kind,
        seed,
        2 + Math.floor(random() * 2),
        acksPath,
        delayMs,
        duringStart,
        afterAcks,
      );
      let log = '';
      try {
        log = readFileSync(acksPath, 'utf8');
      } catch {}
      const untypedBefore = exp.untyped.length;
      const acks = exp.apply(log);
      const check = await checkRoot(root, opts.kind, exp);
      const result: CycleResult = {
        cycle,
        seed,
        delayMs,
        acks,
        records: check.records,
        verified: check.verified,
        repairs: check.repairs,
        problems: selfExit ? [selfExit, ...check.problems] : check.problems,
        untyped: exp.untyped.slice(untypedBefore).map((a) => JSON.stringify(a)),
      };
      summary.kills++;
      summary.acks += acks;
      summary.verified += check.verified;
      summary.repairs += check.repairs;
      summary.untyped.push(...result.untyped);
      if (result.problems.length > 0) summary.failed.push(result);
      opts.onCycle?.(result);
      // The model follows what is really there, so one failure does not cascade into the next cycles.
      exp.settle(check.present);
    }
  } finally {
    if (base) removeRoot(base);
  }
  return summary;
}

function runAndKill(
  root: string,
  kind: string,
  seed: number,
  lanes: number,
  acks: string,
  delayMs: number,
  duringStart: boolean,
  afterAcks: number,
): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [workloadScript(), root, kind, String(seed), String(lanes), acks], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    let timer: NodeJS.Timeout | undefined;
    const arm = () => {
      timer ??= setTimeout(() => child.kill('SIGKILL'), delayMs);
    };
    if (duringStart) arm();
    let ready = false;
    let acked = 0;
    child.stdout.on('data', (d: Buffer) => {
      const text = d.toString();
      ready ||= text.includes('ready');
      for (const c of text) if (c === '.') acked++;
      if (ready && acked >= afterAcks) arm();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (signal === 'SIGKILL') resolve(undefined);
      else resolve(`workload exited by itself (code ${code}, signal ${signal}): ${lastError(stderr)}`);
    });
  });
}

/** The thrown error's first line and code from a dead process's stderr. */
function lastError(stderr: string): string {
  const lines = stderr.split('\n');
  const first = lines.find((l) => /Error|error:/.test(l)) ?? lines[0] ?? '';
  const code = lines.find((l) => /^\s+code:/.test(l))?.trim() ?? '';
  return `${first.trim()} ${code}`.trim();
}

/** Unmounts anything a failed run left under the root before deleting it, so rm never crosses a mount. */
export function removeRoot(root: string): void {
  if (process.env.CACHEKIT_KILL_KEEP) return void console.log(`kept ${root}`);
  for (const point of mountsUnder(root).reverse()) spawnSync('umount', ['-l', point]);
  rmSync(root, { recursive: true, force: true });
}
