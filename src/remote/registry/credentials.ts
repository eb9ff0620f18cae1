import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { RegistryError } from './errors.js';
import { dockerConfigSchema } from './schemas.js';

/** A user name and password (or a registry token used as password), as `docker login` stores them. */
export interface Credentials {
  username: string;
  password: string;
}

/** Where credentials come from: explicit ones win; otherwise the docker config file, if any. */
export interface CredentialOptions {
  auth?: Credentials | undefined;
  /** Path of a docker config.json; default `$DOCKER_CONFIG/config.json` or `~/.docker/config.json`. */
  dockerConfigPath?: string | undefined;
}

const MAX_CONFIG_BYTES = 4 * 1024 * 1024;

export function defaultDockerConfigPath(): string {
  const dir = process.env.DOCKER_CONFIG;
  return dir !== undefined && dir !== '' ? join(dir, 'config.json') : join(homedir(), '.docker', 'config.json');
}

/**
 * Finds the credentials for `registry`. The docker CLI files Docker Hub under its legacy index URL
 * and other hosts under the bare host or an `https://host` URL, so all three spellings are tried.
 * A missing file means no credentials; a file that is not valid JSON of the expected shape is an error.
 */
export async function resolveCredentials(
  registry: string,
  options: CredentialOptions = {},
): Promise<Credentials | undefined> {
  if (options.auth !== undefined) return options.auth;
  const path = options.dockerConfigPath ?? defaultDockerConfigPath();
  const fail = (reason: string, cause?: unknown): never => {
    throw new RegistryError('CONFIG_INVALID', { op: 'read credentials', registry }, `${path}: ${reason}`, { cause });
  };
  let text: string;
  try {
    const buf = await readFile(path);
    if (buf.length > MAX_CONFIG_BYTES) fail('larger than 4 MiB');
    text = buf.toString('utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    if (err instanceof RegistryError) throw err;
    return fail('cannot be read', err);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return fail('is not JSON', err);
  }
  const parsed = dockerConfigSchema.safeParse(json);
  if (!parsed.success) return fail(`has an unexpected shape: ${parsed.error.issues[0]?.message ?? ''}`);
  const auths = parsed.data.auths ?? {};
  const keys =
    registry === 'docker.io'
      ? ['https://index.docker.io/v1/', 'docker.io', 'index.docker.io', 'registry-1.docker.io']
      : [registry, `https://${registry}`, `http://${registry}`, `https://${registry}/v1/`];
  for (const key of keys) {
    const entry = auths[key];
    if (entry === undefined) continue;
    if (entry.auth !== undefined && entry.auth !== '') {
      const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
      const sep = decoded.indexOf(':');
      if (sep <= 0) fail(`auths[${JSON.stringify(key)}].auth is not base64 of user:password`);
      return { username: decoded.slice(0, sep), password: decoded.slice(sep + 1) };
    }
    if (entry.username !== undefined && entry.password !== undefined) {
      return { username: entry.username, password: entry.password };
    }
  }
  return undefined;
}

/** A parsed `WWW-Authenticate` challenge: its scheme and its parameters (realm, service, scope...). */
export interface AuthChallenge {
  scheme: string;
  params: Record<string, string>;
}

/** Parses `Bearer realm="https://auth/token",service="registry",scope="repository:a:pull"` (RFC 7235). */
export function parseChallenge(header: string): AuthChallenge | undefined {
  const m = /^\s*([A-Za-z][A-Za-z0-9_-]*)\s*(.*)$/s.exec(header);
  if (m === null) return undefined;
  const params: Record<string, string> = {};
  const re = /([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?\s*/gy;
  const rest = m[2] ?? '';
  re.lastIndex = 0;
  let p: RegExpExecArray | null = re.exec(rest);
  while (p !== null) {
    params[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : (p[3] ?? '');
    if (re.lastIndex >= rest.length) break;
    p = re.exec(rest);
  }
  return { scheme: m[1]!.toLowerCase(), params };
}

export function basicAuthorization(c: Credentials): string {
  return `Basic ${Buffer.from(`${c.username}:${c.password}`, 'utf8').toString('base64')}`;
}
