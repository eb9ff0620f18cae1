/**
 * Starts a private containerd for tests: its own config, root, state and socket under a
 * temporary directory, nothing shared with a system containerd. Only the plugins the snapshots
 * and leases services need are loaded.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Plugins a snapshot test does not need (CRI first: it wants CNI, a runtime and much more). */
const DISABLED_PLUGINS = [
  'io.containerd.grpc.v1.cri',
  'io.containerd.snapshotter.v1.aufs',
  'io.containerd.snapshotter.v1.btrfs',
  'io.containerd.snapshotter.v1.devmapper',
  'io.containerd.snapshotter.v1.zfs',
  'io.containerd.internal.v1.tracing',
  'io.containerd.tracing.processor.v1.otlp',
  'io.containerd.runtime.v1.linux',
  'io.containerd.runtime.v2.task',
  'io.containerd.monitor.v1.cgroups',
  'io.containerd.service.v1.tasks-service',
  'io.containerd.grpc.v1.tasks',
  'io.containerd.internal.v1.restart',
  'io.containerd.internal.v1.opt',
];

/** Why containerd tests cannot run here, or undefined when they can. */
export function containerdSkipReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'containerd tests need root';
  try {
    execFileSync('containerd', ['--version'], { stdio: 'ignore' });
  } catch {
    return 'containerd is not installed (apt-get install containerd)';
  }
  return undefined;
}

export interface DaemonOptions {
  /** Puts this snapshotter plugin's root (its metadata.db and snapshots/) at `root`. */
  snapshotterRoot?: { snapshotter: string; root: string };
}

export interface ContainerdDaemon {
  /** The gRPC socket. */
  readonly address: string;
  /** The daemon's temporary directory (config, root, state, socket, log). */
  readonly dir: string;
  readonly running: boolean;
  /** SIGTERM, then SIGKILL after a grace period; resolves once the process has exited. */
  stop(): Promise<void>;
  /** SIGKILL at once. */
  kill(): Promise<void>;
  /** Starts the daemon again with the same config (after stop or kill). */
  start(): Promise<void>;
  /** stop() and delete the temporary directory. */
  dispose(): Promise<void>;
  log(): Promise<string>;
}

function toml(s: string): string {
  return JSON.stringify(s);
}

/** Whether a unix socket accepts a connection now: how a daemon's readiness is told. */
export function canConnect(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect(path);
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

export async function startContainerd(options: DaemonOptions = {}): Promise<ContainerdDaemon> {
  // Short path: a unix socket path must fit in 108 bytes.
  const dir = await mkdtemp(join(tmpdir(), 'ck-ctrd-'));
  const address = join(dir, 'c.sock');
  const lines = [
    'version = 2',
    `root = ${toml(join(dir, 'root'))}`,
    `state = ${toml(join(dir, 'state'))}`,
    `disabled_plugins = [${DISABLED_PLUGINS.map(toml).join(', ')}]`,
    '[grpc]',
    `  address = ${toml(address)}`,
    '[ttrpc]',
    `  address = ${toml(`${address}.ttrpc`)}`,
    '[debug]',
    '  address = ""',
    '  level = "info"',
    '[metrics]',
    '  address = ""',
  ];
  const sr = options.snapshotterRoot;
  if (sr) lines.push(`[plugins."io.containerd.snapshotter.v1.${sr.snapshotter}"]`, `  root_path = ${toml(sr.root)}`);
  const config = join(dir, 'config.toml');
  await writeFile(config, `${lines.join('\n')}\n`);
  const logPath = join(dir, 'containerd.log');

  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();

  const start = async (): Promise<void> => {
    await rm(address, { force: true });
    const log = createWriteStream(logPath, { flags: 'a' });
    const proc = spawn('containerd', ['--config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
    proc.stdout.pipe(log);
    proc.stderr.pipe(log);
    child = proc;
    exited = new Promise((resolve) => proc.once('exit', () => resolve()));
    let gone = false;
    void exited.then(() => {
      gone = true;
    });
    const until = Date.now() + 20_000;
    while (!(await canConnect(address))) {
      if (gone) throw new Error(`containerd exited at start:\n${await readFile(logPath, 'utf8')}`);
      if (Date.now() > until)
        throw new Error(`containerd did not open ${address}:\n${await readFile(logPath, 'utf8')}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  const signal = async (sig: NodeJS.Signals, graceMs: number): Promise<void> => {
    const proc = child;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill(sig);
    const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  };

  await start();
  return {
    address,
    dir,
    get running() {
      return child !== undefined && child.exitCode === null && child.signalCode === null;
    },
    stop: () => signal('SIGTERM', 10_000),
    kill: () => signal('SIGKILL', 10_000),
    start,
    async dispose() {
      await signal('SIGTERM', 10_000);
      await rm(dir, { recursive: true, force: true });
    },
    log: () => readFile(logPath, 'utf8'),
  };
}
