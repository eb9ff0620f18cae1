import { chmodSync, lstatSync, unlinkSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { ControlConnection } from './connection.js';
import { type ControlSource, handleLine } from './handlers.js';
import { CONTROL_LIMITS, CONTROL_PROTOCOL, controlSocketPath, socketPathProblem } from './protocol.js';

export type { ControlSource } from './handlers.js';
export { controlSocketPath } from './protocol.js';

/**
 * Removes a control socket an earlier owner left behind (it was killed before it could close). Only the owner
 * calls it, while it holds the root's lock: no live process can be serving that socket then. Anything at the
 * path that is not a socket is left alone, and serving then fails.
 */
export function removeStaleControlSocket(root: string): void {
  const path = controlSocketPath(root);
  try {
    if (lstatSync(path).isSocket()) unlinkSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/**
 * The owner's read-only control socket at `<root>/control.sock`, mode 0600, so that `du`, `inspect` and `watch`
 * in another process see refs, held states and transitions that only the owner knows.
 *
 * Who may connect: only this user (and root). The root directory is 0700 and the socket 0600; Node has no API
 * for SO_PEERCRED, so the peer's uid is not checked a second time.
 */
export class ControlServer {
  private readonly connections = new Set<ControlConnection>();
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly server: Server,
    readonly path: string,
  ) {}

  /** Listens on the root's control socket; rejects (and leaves nothing behind) when it cannot. */
  static async listen(source: ControlSource): Promise<ControlServer> {
    const path = controlSocketPath(source.root);
    const problem = socketPathProblem(path);
    if (problem) throw new Error(`cannot serve a control socket at ${path}: ${problem}`);
    const server = createServer({ allowHalfOpen: false, pauseOnConnect: false });
    const control = new ControlServer(server, path);
    server.on('connection', (socket) => control.accept(socket, source));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    });
    // Errors after listening (none are expected) must never reach the owner as an uncaught exception.
    server.on('error', () => {});
    // Serving others never keeps the owner's process alive: it exits when its own work is done.
    server.unref();
    try {
      // The socket is made with the umask's mode; the 0700 root keeps others out until this narrows it.
      chmodSync(path, 0o600);
    } catch (err) {
      await control.close();
      throw err;
    }
    return control;
  }

  /** Connections open now. */
  get clients(): number {
    return this.connections.size;
  }

  private accept(socket: Socket, source: ControlSource): void {
    socket.on('error', () => socket.destroy());
    socket.unref();
    if (this.closing || this.connections.size >= CONTROL_LIMITS.maxConnections) {
      const message = this.closing
        ? 'the owner is closing'
        : `the owner serves at most ${CONTROL_LIMITS.maxConnections} connections at once`;
      socket.end(`${JSON.stringify({ type: 'error', code: this.closing ? 'CLOSED' : 'BUSY', message })}\n`);
      setTimeout(() => socket.destroy(), 1000).unref();
      return;
    }
    const connection = new ControlConnection(socket, (line, reply) => handleLine(source, line, reply));
    this.connections.add(connection);
    socket.on('close', () => this.connections.delete(connection));
    connection.send({ type: 'hello', protocol: CONTROL_PROTOCOL, pid: process.pid, root: source.root });
  }

  /** Stops accepting, tells every client the owner is closing, and removes the socket file. */
  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      for (const connection of this.connections) connection.close('the owner is closing');
      this.server.close(() => resolve());
      // Clients that do not read their goodbye are cut when the connection's own timer fires; don't wait here.
      for (const connection of this.connections) connection.destroySoon();
    }).finally(() => {
      try {
        unlinkSync(this.path);
      } catch {
        // Node removes it itself on close; only a leftover would still be there.
      }
    });
    return this.closing;
  }
}
