import { createServer, request, type Server } from 'node:http';

/** A pass-through HTTP proxy to a real registry that answers some requests itself with an error status. */
export interface FaultProxy {
  host: string;
  /** The next `count` requests get `status` (with Retry-After when given) instead of reaching the registry. */
  fail(count: number, status: number, retryAfter?: string): void;
  /** Requests seen, as `METHOD path`. */
  seen: string[];
  close(): Promise<void>;
}

export async function startFaultProxy(target: string): Promise<FaultProxy> {
  const [targetHost, targetPort] = target.split(':');
  let failures = 0;
  let failStatus = 503;
  let failRetryAfter: string | undefined;
  const seen: string[] = [];
  const server: Server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    if (failures > 0) {
      failures--;
      req.resume();
      res.writeHead(failStatus, failRetryAfter === undefined ? {} : { 'retry-after': failRetryAfter });
      res.end();
      return;
    }
    const upstream = request(
      { host: targetHost, port: Number(targetPort), method: req.method, path: req.url, headers: req.headers },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
  return {
    host: `127.0.0.1:${port}`,
    seen,
    fail: (count, status, retryAfter) => {
      failures = count;
      failStatus = status;
      failRetryAfter = retryAfter;
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
