import { execFile } from 'node:child_process';
import { createSign, randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { promisify } from 'node:util';

const exec = promisify(execFile);

/** A token service as the distribution spec's auth flow expects: Basic in, a signed JWT out. */
export interface TokenServer {
  realm: string;
  service: string;
  issuer: string;
  rootCertBundle: string;
  /** Every scope requested, in order. */
  requests: { scope: string[]; user: string | undefined }[];
  close(): Promise<void>;
}

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

export async function startTokenServer(
  dir: string,
  user: { username: string; password: string },
): Promise<TokenServer> {
  const key = join(dir, 'token.key');
  const cert = join(dir, 'token.pem');
  await exec('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    key,
    '-out',
    cert,
    '-days',
    '2',
    '-subj',
    '/CN=cachekit-test-token',
  ]);
  const keyPem = await readFile(key, 'utf8');
  const certDer = (await readFile(cert, 'utf8')).replace(/-----[^-]+-----|\s/g, '');
  const service = 'cachekit-test-registry';
  const issuer = 'cachekit-test-issuer';
  const requests: TokenServer['requests'] = [];
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const header = req.headers.authorization ?? '';
    const given = header.startsWith('Basic ') ? Buffer.from(header.slice(6), 'base64').toString() : undefined;
    const scope = url.searchParams.getAll('scope');
    requests.push({ scope, user: given?.split(':')[0] });
    if (given !== `${user.username}:${user.password}`) {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'bad credentials' }] }));
      return;
    }
    const access = scope.map((s) => {
      const [type, name, actions] = s.split(':');
      return { type, name, actions: (actions ?? '').split(',') };
    });
    const now = Math.floor(Date.now() / 1000);
    const head = { alg: 'RS256', typ: 'JWT', x5c: [certDer] };
    const claims = {
      iss: issuer,
      sub: user.username,
      aud: service,
      exp: now + 300,
      nbf: now - 10,
      iat: now,
      jti: randomUUID(),
      access,
    };
    const unsigned = `${b64url(JSON.stringify(head))}.${b64url(JSON.stringify(claims))}`;
    const signature = createSign('RSA-SHA256').update(unsigned).sign(keyPem);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ token: `${unsigned}.${b64url(signature)}`, expires_in: 300 }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
  return {
    realm: `http://127.0.0.1:${port}/token`,
    service,
    issuer,
    rootCertBundle: cert,
    requests,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
