import { type ChildProcess, fork } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { workerScript } from '../size/worker-script.js';
import type { ChildReply, ChildRequest } from './crash-protocol.js';

/** A child process that owns the run's root until it is killed. */
export interface CrashOwner {
  /** Makes one call in the child; refs are named by the number of the request that made them. */
  call(req: Omit<ChildRequest, 'n'>): Promise<ChildReply>;
  /** SIGKILL, then waits until the process is gone. */
  kill(): Promise<void>;
}

/** How long a child may take to open the root; a slow shared machine needs a generous bound. */
const READY_TIMEOUT_MS = 60_000;

/** Forks the crash child on `root` and waits until its manager is open. */
export async function startCrashOwner(root: string, kind: 'native' | 'overlay'): Promise<CrashOwner> {
  const script = workerScript(import.meta.url, 'crash-child');
  // Running from the sources (vitest, tsx) the child needs tsx's loader; compiled, plain node.
  const execArgv =
    script.mode === 'tsx' ? ['--import', pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href] : [];
  const child = fork(fileURLToPath(script.url), [root, kind], { execArgv, stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<string>((resolve) =>
    child.once('exit', (code, signal) => resolve(`exit code ${code}, signal ${signal}`)),
  );
  const waiting = new Map<number, (reply: ChildReply) => void>();
  child.on('message', (reply: ChildReply) => {
    waiting.get(reply.n)?.(reply);
    waiting.delete(reply.n);
  });
  const died = (how: string) =>
    new Error(`crash child on ${root} ended before it was killed (${how}): ${stderr.trim()}`);
  const answer = (n: number) =>
    Promise.race([
      new Promise<ChildReply>((resolve) => waiting.set(n, resolve)),
      exited.then((how) => Promise.reject(died(how))),
    ]);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(died(`not ready after ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS);
  });
  try {
    await Promise.race([answer(0), timeout]);
  } catch (error) {
    await killed(child, exited);
    throw error;
  } finally {
    clearTimeout(timer);
  }
  let next = 1;
  return {
    async call(req) {
      const n = next++;
      const replied = answer(n);
      child.send({ ...req, n } satisfies ChildRequest);
      const reply = await replied;
      if (!reply.ok && reply.code === undefined) throw new Error(`crash child: ${req.call} failed: ${reply.message}`);
      return reply;
    },
    kill: () => killed(child, exited),
  };
}

async function killed(child: ChildProcess, exited: Promise<string>): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await exited;
}
