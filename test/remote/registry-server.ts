import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';

const BINARY = '/usr/bin/docker-registry';

/** Why registry tests cannot run here, or undefined when Debian's docker-registry is installed. */
export function registryUnavailable(): string | undefined {
  if (existsSync(BINARY)) return undefined;
  try {
    execFileSync('which', ['docker-registry'], { stdio: 'ignore' });
    return undefined;
  } catch {
    return 'docker-registry is not installed (apt-get install docker-registry)';
  }
}

export interface RegistryServerOptions {
  /** Require htpasswd Basic auth with this user. */
  user?: { username: string; password: string };
  /** Require Bearer tokens from a token service (distribution's `auth: token`). */
  token?: { realm: string; service: string; issuer: string; rootCertBundle: string };
}

/** A private docker-registry on 127.0.0.1: its own port, storage directory and config file. */
export interface RegistryServer {
  /** `127.0.0.1:<port>`, the registry part of a reference. */
  host: string;
  storage: string;
  /** Kills the process at once (SIGKILL), as a crash would. */
  kill(): Promise<void>;
  /** Starts it again on the same port, storage and secret. */
  start(): Promise<void>;
  /** Stops it and deletes its directory. */
  close(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export async function startRegistry(options: RegistryServerOptions = {}): Promise<RegistryServer> {
  const dir = await mkdtemp(join(tmpdir(), 'cachekit-registry-'));
  const storage = join(dir, 'storage');
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const lines = [
    'version: 0.1',
    'log:',
    '  level: error',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${storage}`,
    '  delete:',
    '    enabled: true',
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    'http:',
    `  addr: ${host}`,
    // A fixed secret keeps upload session URLs valid across a restart, so pushes can resume.
    '  secret: cachekit-test-secret',
  ];
  if (options.user !== undefined) {
    const hash = bcrypt.hashSync(options.user.password, 5);
    await writeFile(join(dir, 'htpasswd'), `${options.user.username}:${hash}\n`);
    lines.push('auth:', '  htpasswd:', '    realm: cachekit-test', `    path: ${join(dir, 'htpasswd')}`);
  }
  if (options.token !== undefined) {
    const t = options.token;
    lines.push(
      'auth:',
      '  token:',
      `    realm: ${t.realm}`,
      `    service: ${t.service}`,
      `    issuer: ${t.issuer}`,
      `    rootcertbundle: ${t.rootCertBundle}`,
    );
  }
  const config = join(dir, 'config.yml');
  await writeFile(config, `${lines.join('\n')}\n`);

  let child: ChildProcess | undefined;
  let output = '';
  const start = async () => {
    output = '';
    const proc = spawn(BINARY, ['serve', config], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    proc.stdout?.on('data', (d) => {
      output += d;
    });
    proc.stderr?.on('data', (d) => {
      output += d;
    });
    for (let i = 0; i < 200; i++) {
      if (proc.exitCode !== null) throw new Error(`docker-registry exited ${proc.exitCode}: ${output}`);
      try {
        const res = await fetch(`http://${host}/v2/`);
        await res.body?.cancel();
        if (res.status === 200 || res.status === 401) return;
      } catch {
        // Not listening yet.
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`docker-registry did not answer on ${host}: ${output}`);
  };
  const kill = async () => {
    const proc = child;
    child = undefined;
    if (proc === undefined || proc.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      proc.once('exit', () => resolve());
      proc.kill('SIGKILL');
    });
  };
  await start();
  return {
    host,
    storage,
    kill,
    start,
    close: async () => {
      await kill();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
