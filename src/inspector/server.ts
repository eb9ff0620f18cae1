import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadAssets, pageHtml } from './assets.js';
import { RecordDiagrams } from './diagram.js';
import { RecordMirror } from './mirror.js';
import { route, type RouteContext } from './routes.js';
import type { InspectorSource } from './source.js';
import { statusFeed } from './status.js';

export interface InspectorOptions {
  /** TCP port; 0 (default) picks a free one. */
  port?: number;
  /** Interface to listen on; default 127.0.0.1 so only this machine can connect. */
  host?: string;
}

/** A running inspector. `url` carries the token; every request must. */
export interface InspectorServer {
  url: string;
  token: string;
  close(): Promise<void>;
}

export type InspectorOptionField = 'port' | 'host';

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

function validate(options: InspectorOptions): { port: number; host: string } {
  const port = options.port ?? 0;
  const host = options.host ?? '127.0.0.1';
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new InspectorOptionError('port', options.port, 'must be an integer from 0 to 65535');
  if (typeof host !== 'string' || host.trim() === '' || /[\s/?#@]/.test(host))
    throw new InspectorOptionError('host', options.host, 'must be a host name or IP address');
  return { port, host };
}

/** Constant-time check, so the token cannot be guessed a character at a time from response times. */
function tokenMatches(given: string | null, token: string): boolean {
  if (given === null || given.length !== token.length) return false;
  return timingSafeEqual(Buffer.from(given), Buffer.from(token));
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

/** Starts the server behind {@link serveInspector} (serve.ts), which loads this module on demand. */
export async function startInspector(
  source: InspectorSource,
  options: InspectorOptions = {},
): Promise<InspectorServer> {
  const { port, host } = validate(options);
  const token = randomBytes(24).toString('hex');
  const streams = new Set<() => void>();
  const ctx: RouteContext = {
    source,
    html: pageHtml(token),
    assets: loadAssets(),
    diagrams: new RecordDiagrams(),
    mirror: new RecordMirror(source),
    status$: statusFeed(source),
    track: (end) => streams.add(end),
    untrack: (end) => streams.delete(end),
  };

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) res.setHeader(name, value);
    const url = new URL(req.url ?? '/', 'http://inspector.invalid');
    if (!tokenMatches(url.searchParams.get('token'), token)) return refuse(res, 401, 'missing or wrong token');
    if (req.method !== 'GET')
      return refuse(res, 405, `${req.method ?? 'this method'} not allowed: the inspector is read-only`, {
        allow: 'GET',
      });
    try {
      route(ctx, url, res);
    } catch (err) {
      if (!res.headersSent) refuse(res, 500, err instanceof Error ? err.message : String(err));
      else res.destroy();
    }
  };

  const server = createServer(handle);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const urlHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${urlHost}:${address.port}/?token=${token}`,
    token,
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
