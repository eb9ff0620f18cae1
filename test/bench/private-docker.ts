/**
 * A dockerd and containerd of the bench's own, for bench:buildkit: found on the machine or installed
 * from Debian's docker.io, and started with every socket, config, pid file, data and state folder
 * under one temporary folder the caller owns. The system dockerd and containerd are never used,
 * read or touched; the caller stops the daemons and removes the folder at the end.
 */
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import {
  accessSync,
  closeSync,
  constants,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { request } from 'node:http';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { mountPointsUnder } from '../../src/snapshot/mount.js';
import { canConnect } from '../snapshot/containerd-daemon.js';

const START_TIMEOUT = 60_000;
const STOP_GRACE = 20_000;

const execFileP = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// --- Finding or installing docker.io -------------------------------------------------------------

export interface Binaries {
  dockerd: string;
  client: string;
  containerd: string;
}

/** An executable named `name` on PATH or in the sbin folders (root's tools live there). */
function onPath(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/usr/bin', '/sbin', '/bin'];
  for (const dir of dirs.filter(Boolean)) {
    try {
      accessSync(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {}
  }
  return undefined;
}

/** apt-get install of docker.io; a stale package list is refreshed once and the install retried. */
function installDockerIo(): void {
  console.log('bench:buildkit: dockerd is missing, installing docker.io with apt-get');
  const apt = (...args: string[]) =>
    execFileSync('apt-get', args, { stdio: 'pipe', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  try {
    apt('install', '-y', '-qq', 'docker.io');
  } catch {
    apt('update', '-qq');
    apt('install', '-y', '-qq', 'docker.io');
  }
}

export function findBinaries(): Binaries {
  if (onPath('dockerd') === undefined) installDockerIo();
  const dockerd = onPath('dockerd');
  const containerd = onPath('containerd');
  if (dockerd === undefined || containerd === undefined) throw new Error('dockerd or containerd not found');
  // The client packaged with this dockerd, not whichever docker comes first on PATH: a client of
  // docker 23 or later hands every BuildKit build to the buildx plugin, and fails without it.
  const packaged = [join(dirname(dockerd), 'docker'), join(dirname(dirname(dockerd)), 'bin', 'docker')];
  const client = packaged.find((p) => existsSync(p)) ?? onPath('docker');
  if (client === undefined) throw new Error('no docker client beside dockerd');
  return { dockerd, client, containerd };
}

// --- Daemons -------------------------------------------------------------------------------------

const exited = (child: ChildProcess) => child.exitCode !== null || child.signalCode !== null;

/** The last lines of a log file, for error messages. */
function tail(path: string, lines = 40): string {
  return existsSync(path) ? readFileSync(path, 'utf8').split('\n').slice(-lines).join('\n') : '(no log)';
}

/** Starts a long-running process with its output appended to `logPath`. */
function spawnLogged(cmd: string, args: string[], logPath: string, env: NodeJS.ProcessEnv): ChildProcess {
  const fd = openSync(logPath, 'a');
  try {
    const child = spawn(cmd, args, { stdio: ['ignore', fd, fd], env });
    // Without a listener a failed spawn would crash the process before the cleanup runs.
    child.on('error', (e) => console.error(`${cmd}: ${e.message}`));
    return child;
  } finally {
    closeSync(fd);
  }
}

async function waitUntil(what: string, child: ChildProcess, logPath: string, ready: () => Promise<boolean>) {
  const until = Date.now() + START_TIMEOUT;
  while (!(await ready())) {
    if (exited(child)) throw new Error(`${what} exited at start:\n${tail(logPath)}`);
    if (Date.now() > until) throw new Error(`${what} not ready after ${START_TIMEOUT / 1000} s:\n${tail(logPath)}`);
    await sleep(100);
  }
}

/** SIGTERM, then SIGKILL after a grace period; resolves once the process has exited. */
export async function stopProcess(child: ChildProcess): Promise<void> {
  if (exited(child)) return;
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE);
  await gone;
  clearTimeout(timer);
}

/** One engine API call over the daemon's unix socket: no client process in the timing. */
export function engine(sock: string, method: 'GET' | 'POST', path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: sock, method, path, headers: { host: 'docker' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

export interface PrivateDocker {
  sock: string;
  client: string;
  /** The environment of every client call: this daemon, a config folder of its own, BuildKit on. */
  env: NodeJS.ProcessEnv;
}

/**
 * A containerd of our own for dockerd. Left alone, dockerd uses the system containerd whenever
 * /run/containerd/containerd.sock exists; handing it this one keeps the system daemon untouched.
 */
async function startContainerd(bin: string, dir: string, started: ChildProcess[]): Promise<string> {
  const address = join(dir, 'containerd.sock');
  const q = JSON.stringify;
  const config = [
    'version = 2',
    `root = ${q(join(dir, 'containerd-root'))}`,
    `state = ${q(join(dir, 'containerd-state'))}`,
    // CRI wants CNI and more; opt installs into /opt/containerd. dockerd needs neither.
    'disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.internal.v1.opt"]',
    '[grpc]',
    `  address = ${q(address)}`,
    '[ttrpc]',
    `  address = ${q(`${address}.ttrpc`)}`,
    '[debug]',
    '  address = ""',
    '[metrics]',
    '  address = ""',
  ];
  const configPath = join(dir, 'containerd.toml');
  writeFileSync(configPath, `${config.join('\n')}\n`);
  const logPath = join(dir, 'containerd.log');
  const child = spawnLogged(bin, ['--config', configPath], logPath, process.env);
  started.push(child);
  await waitUntil('containerd', child, logPath, () => canConnect(address));
  return address;
}

/** A dockerd whose data, exec state, pid file, socket and config are all under `dir`. */
export async function startDocker(bins: Binaries, dir: string, started: ChildProcess[]): Promise<PrivateDocker> {
  const containerd = await startContainerd(bins.containerd, dir, started);
  const sock = join(dir, 'docker.sock');
  const daemonConfig = join(dir, 'daemon.json');
  // An empty config file of its own, so /etc/docker/daemon.json is never read.
  writeFileSync(daemonConfig, '{}\n');
  const clientConfig = join(dir, 'client-config');
  mkdirSync(clientConfig);
  const args = [
    ...['--data-root', join(dir, 'data'), '--exec-root', join(dir, 'exec'), '--pidfile', join(dir, 'docker.pid')],
    ...['-H', `unix://${sock}`, '--config-file', daemonConfig, '--containerd', containerd],
    // No network is used, and none of the host's firewall or bridges may change.
    ...['--iptables=false', '--ip-masq=false', '--bridge=none'],
    // Named, so a missing overlay2 fails here instead of falling back to the far slower vfs.
    '--storage-driver=overlay2',
  ];
  const logPath = join(dir, 'dockerd.log');
  const child = spawnLogged(bins.dockerd, args, logPath, process.env);
  started.push(child);
  const ping = () =>
    engine(sock, 'GET', '/_ping').then(
      (r) => r.status === 200 && r.body === 'OK',
      () => false,
    );
  await waitUntil('dockerd', child, logPath, ping);
  // Variables that could point a client elsewhere go; the three that matter are set.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('DOCKER_')));
  return {
    sock,
    client: bins.client,
    env: { ...env, DOCKER_HOST: `unix://${sock}`, DOCKER_CONFIG: clientConfig, DOCKER_BUILDKIT: '1' },
  };
}

export async function docker(d: PrivateDocker, args: string[]): Promise<string> {
  const { stdout } = await execFileP(d.client, args, { env: d.env, maxBuffer: 256 * 2 ** 20 });
  return stdout;
}

/** Unmounts whatever dockerd left mounted in the folder (lazily: a busy mount must not stop cleanup). */
export async function unmountLeftovers(dir: string): Promise<number> {
  const points = await mountPointsUnder(dir);
  for (const point of points) {
    try {
      execFileSync('umount', ['-l', point], { stdio: 'ignore' });
    } catch {}
  }
  return points.length;
}

/** Runs a client command with its (long) output in a log file; a failure shows the log's tail. */
export async function dockerLogged(d: PrivateDocker, args: string[], logPath: string): Promise<void> {
  const child = spawnLogged(d.client, args, logPath, d.env);
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  if (code !== 0) throw new Error(`docker ${args.join(' ')} exited ${code}:\n${tail(logPath)}`);
}
