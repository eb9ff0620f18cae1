import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { loadAssets, pageHtml } from './assets.js';
import { RecordDiagrams } from './diagram.js';
import { RecordMirror } from './mirror.js';
import { route, type RouteContext } from './routes.js';
import type { InspectorSource } from './source.js';
import { statusFeed } from './status.js';
import { RequestGate, resolveBindAddress, type BindAddress } from './address.js';
import { resolveLimits, type InspectorLimits } from './limits.js';

export interface InspectorOptions {
  /** TCP port; 0 (default) picks a free one. */
  port?: number;
  /** Interface to listen on; default 127.0.0.1 so only this machine can connect. */
  host?: string;
  /**
   * Allow a host that resolves to anything but loopback (`0.0.0.0`, `::`, a LAN name or address).
   * Anyone who can reach it and has the URL can read the cache.
   */
  allowRemote?: boolean;
  /** Bounds on connections, timeouts and event streams; defaults in DEFAULT_INSPECTOR_LIMITS. */
  limits?: Partial<InspectorLimits>;
}

/** What a running inspector holds now, and how many slow clients it has dropped. */
export interface InspectorStats {
  connections: number;
  streams: number;
  /** Event-stream clients dropped for not reading: a full socket for too long, or too much unsent. */
  dropped: number;
}

/** A running inspector. `url` carries the token; every request must. */
export interface InspectorServer {
  url: string;
  token: string;
  stats(): InspectorStats;
  close(): Promise<void>;
}

export type InspectorOptionField = 'port' | 'host' | 'allowRemote' | `limits.${string}`;

/** An inspector option that cannot be used; nothing was started. */
export class InspectorOptionError extends Error {
  override readonly name = 'InspectorOptionError';
  constructor(
    readonly field: InspectorOptionField,
    readonly value: unknown,
    reason: string,
  ) {
    super(`inspector option ${field} ${JSON.stringify(value)}: ${reason}`);
  }
}

interface ValidOptions {
  port: number;
  host: string;
  allowRemote: boolean;
  limits: InspectorLimits;
}

function validate(options: InspectorOptions): ValidOptions {
  const port = options.port ?? 0;
  const host = options.host ?? '127.0.0.1';
  const allowRemote = options.allowRemote ?? false;
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new InspectorOptionError('port', options.port, 'must be an integer from 0 to 65535');
  if (typeof host !== 'string' || host.trim() === '' || /[\s/?#@]/.test(host))
    throw new InspectorOptionError('host', options.host, 'must be a host name or IP address');
  if (typeof allowRemote !== 'boolean') throw new InspectorOptionError('allowRemote', allowRemote, 'must be a boolean');
  const limits = resolveLimits(options.limits);
  if ('bad' in limits) throw new InspectorOptionError(`limits.${limits.bad}`, limits.value, limits.reason);
  return { port, host, allowRemote, limits: limits.limits };
}

/** The address to listen on; beyond loopback only when allowed, judged on every address the host has. */
async function bindAddress(host: string, allowRemote: boolean): Promise<BindAddress> {
  let bind: BindAddress;
  try {
    bind = await resolveBindAddress(host);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    throw new InspectorOptionError('host', host, `cannot be resolved (${code})`);
  }
  if (!bind.loopback && !allowRemote)
    throw new InspectorOptionError(
      'host',
      host,
      `resolves to ${bind.resolved.join(', ')}, beyond loopback: anyone who reaches it could read the cache; ` +
        'pass allowRemote: true (cachekit serve --allow-remote) to listen there anyway',
    );
  return bind;
}

/**
 * Constant-time check, so the token cannot be guessed a character at a time from response times.
 * Lengths are compared in bytes: timingSafeEqual throws on buffers of different lengths, and a
 * string's length counts UTF-16 units (48 'é' are 48 units and 96 bytes).
 */
function tokenMatches(given: string | null, token: string): boolean {
  if (given === null) return false;
  const a = Buffer.from(given, 'utf8');
  const b = Buffer.from(token, 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}

const SECURITY_HEADERS = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  // The token is in the URL: never let it leak through a Referer header.
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  // Same-origin only; inline styles because the diagram SVG carries a <style> element.
  'content-security-policy':
    "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'",
};

function refuse(res: ServerResponse, status: number, message: string, extra: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...extra });
  res.end(`${message}\n`);
}

/** A handler failed: 500 when nothing was sent yet, otherwise the half-sent response is cut. */
function fail(res: ServerResponse, err: unknown): void {
  if (res.headersSent || res.destroyed) return void res.destroy();
  refuse(res, 500, `internal error: ${err instanceof Error ? err.message : String(err)}`);
}

/**
 * Throws the InspectorOptionError serveInspector would, without starting anything: lets a caller refuse
 * bad options before it opens the cache. Resolves to the address the server would listen on.
 */
export async function checkInspectorOptions(options: InspectorOptions = {}): Promise<BindAddress> {
  const { host, allowRemote } = validate(options);
  return bindAddress(host, allowRemote);
}

/** Starts the server behind {@link serveInspector} (serve.ts), which loads this module on demand. */
export async function startInspector(
  source: InspectorSource,
  options: InspectorOptions = {},
): Promise<InspectorServer> {
  const { port, host, limits } = validate(options);
  const bind = await checkInspectorOptions(options);
  const token = randomBytes(24).toString('hex');
  const streams = new Set<() => void>();
  const sockets = new Set<Socket>();
  let dropped = 0;
  const ctx: RouteContext = {
    source,
    html: pageHtml(token),
    assets: loadAssets(),
    diagrams: new RecordDiagrams(),
    mirror: new RecordMirror(source),
    status$: statusFeed(source),
    limits,
    openStreams: () => streams.size,
    dropped: () => void dropped++,
    track: (end) => streams.add(end),
    untrack: (end) => streams.delete(end),
  };
  // Set once listening: the port is known only then.
  let gate: RequestGate | undefined;

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) res.setHeader(name, value);
    // Checked before the token: a rebound name or a foreign page learns nothing, not even "wrong token".
    const hostHeader = req.headers.host;
    if (!gate?.hostAllowed(hostHeader))
      return refuse(res, 421, 'this server does not answer to that Host: open the URL it printed');
    if (!gate.originAllowed(req.headers.origin, hostHeader!))
      return refuse(res, 403, 'requests from other origins are refused');
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://inspector.invalid');
    } catch {
      return refuse(res, 400, 'malformed request target');
    }
    if (!tokenMatches(url.searchParams.get('token'), token)) return refuse(res, 401, 'missing or wrong token');
    if (req.method !== 'GET')
      return refuse(res, 405, `${req.method ?? 'this method'} not allowed: the inspector is read-only`, {
        allow: 'GET',
      });
    route(ctx, url, res);
  };

  // One error boundary around everything a request runs: whatever throws costs that request, never the process.
  const server = createServer(
    {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      // How often Node looks for requests past their timeouts; the default (30 s) would let them linger.
      connectionsCheckingInterval: Math.max(10, Math.min(1000, Math.floor(limits.headersTimeoutMs / 4))),
    },
    (req, res) => {
      try {
        handle(req, res);
      } catch (err) {
        fail(res, err);
      }
    },
  );
  server.maxConnections = limits.maxConnections;
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, bind.address, () => {
      server.off('error', reject);
      resolve();
    });
  });
  // Once listening, a server error is a failed accept (EMFILE when fds run out): that client is lost,
  // the server goes on. Unhandled, it would end the process that owns the cache.
  server.on('error', () => {});
  const address = server.address() as AddressInfo;
  gate = new RequestGate(address.port, bind, host);
  const urlHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${urlHost}:${address.port}/?token=${token}`,
    token,
    stats: () => ({ connections: sockets.size, streams: streams.size, dropped }),
    close() {
      closing ??= new Promise<void>((resolve, reject) => {
        for (const end of streams) end();
        streams.clear();
        ctx.mirror.stop();
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
