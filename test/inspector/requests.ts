/** Raw HTTP helpers for inspector tests: requests with headers fetch will not send, and bare sockets. */
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { InspectorServer } from '../../src/inspector/index.js';

export interface RawResponse {
  status: number;
  body: string;
}

/** The server's address: host name and port, from its URL. */
export function addressOf(server: InspectorServer): { host: string; port: number } {
  const u = new URL(server.url);
  return { host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port) };
}

/** A path with the server's token (or the one given) in its query. */
export function withToken(server: InspectorServer, path: string, token: string | null = server.token): string {
  const u = new URL(path, 'http://x');
  if (token !== null) u.searchParams.set('token', token);
  return `${u.pathname}${u.search}`;
}

/** One GET on its own connection; `headers` may set Host and Origin, which fetch refuses to. */
export function get(server: InspectorServer, path: string, headers: Record<string, string> = {}): Promise<RawResponse> {
  const { host, port } = addressOf(server);
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path, method: 'GET', headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** A socket to the server that records what it receives and when it closes. */
export interface RawClient {
  socket: Socket;
  received(): string;
  closed: Promise<void>;
}

export async function rawClient(server: InspectorServer): Promise<RawClient> {
  const { host, port } = addressOf(server);
  const socket = connect({ host, port });
  let data = '';
  socket.setEncoding('latin1');
  socket.on('data', (d: string) => (data += d));
  // A reset is one way the server may drop us; it still counts as closed.
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return { socket, received: () => data, closed };
}

/** Resolves once `check` holds, trying every 20 ms; the test's own timeout is the deadline. */
export async function eventually(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((resolve) => setTimeout(resolve, 20));
}
