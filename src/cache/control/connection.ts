import type { Socket } from 'node:net';
import { CONTROL_LIMITS, type ControlErrorCode, type RequestSeq } from './protocol.js';

/** What a request handler may do with the connection that asked. */
export interface Reply {
  /** Writes one message; false when the client has stopped reading (then wait for `drained`). */
  send(message: object): boolean;
  /** Resolves once the client has read what was sent, or the connection is gone. */
  drained(): Promise<void>;
  /** Sends an error naming the request; the connection stays open. */
  fail(seq: RequestSeq, code: ControlErrorCode, message: string): void;
  /** Cuts the connection after an error message: for a client that broke the rules. */
  refuse(code: ControlErrorCode, message: string): void;
  /** Bytes written and not yet read by the client. */
  readonly unsent: number;
  readonly closed: boolean;
  /** Runs when the connection ends, whoever ends it. */
  onClose(cleanup: () => void): void;
  /** Marks the connection as watching: it then stays open while quiet. */
  keepOpen(): void;
}

export type LineHandler = (line: string, reply: Reply) => Promise<void>;

/**
 * One client: splits what it sends into lines (bounded), answers them one at a time, and stops reading while
 * too many wait. Nothing a client does throws out of here: every failure is a message or a closed connection.
 */
export class ControlConnection implements Reply {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private readonly queue: string[] = [];
  private busy = false;
  private watching = false;
  private readonly cleanups: (() => void)[] = [];

  constructor(
    private readonly socket: Socket,
    private readonly handle: LineHandler,
  ) {
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    // A client that resets or vanishes is only a closed connection.
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      for (const cleanup of this.cleanups.splice(0)) cleanup();
    });
    // Node arms the timer again on any traffic. A watcher stays (one that stops reading overflows instead), and
    // so does a client waiting for a long answer (a large disk usage walk); one that stopped reading its answer
    // does not.
    socket.setTimeout(CONTROL_LIMITS.idleMs);
    socket.on('timeout', () => {
      if (this.watching) return;
      if (!this.busy || socket.writableLength > 0) socket.destroy();
    });
  }

  get unsent(): number {
    return this.socket.writableLength;
  }

  get closed(): boolean {
    return this.socket.destroyed || this.socket.writableEnded;
  }

  send(message: object): boolean {
    if (this.closed) return false;
    return this.socket.write(`${JSON.stringify(message)}\n`);
  }

  drained(): Promise<void> {
    if (this.closed || !this.socket.writableNeedDrain) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.socket.off('drain', done);
        this.socket.off('close', done);
        resolve();
      };
      this.socket.on('drain', done);
      this.socket.on('close', done);
    });
  }

  fail(seq: RequestSeq, code: ControlErrorCode, message: string): void {
    this.send({ type: 'error', ...(seq === undefined ? {} : { seq }), code, message });
  }

  refuse(code: ControlErrorCode, message: string): void {
    if (this.closed) return;
    this.socket.pause();
    this.socket.end(`${JSON.stringify({ type: 'error', code, message })}\n`);
    // A client that does not read its refusal must not keep the slot.
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }

  onClose(cleanup: () => void): void {
    if (this.socket.destroyed) cleanup();
    else this.cleanups.push(cleanup);
  }

  keepOpen(): void {
    this.watching = true;
  }

  /** Ends the connection from the owner's side, telling the client why. */
  close(message: string): void {
    this.refuse('CLOSED', message);
  }

  /** Drops the connection as soon as what was written has gone out (the 1 s refusal timer is the backstop). */
  destroySoon(): void {
    if (this.socket.destroyed) return;
    if (this.socket.writableFinished) this.socket.destroy();
    else this.socket.once('finish', () => this.socket.destroy());
  }

  private receive(chunk: Buffer): void {
    let start = 0;
    for (let nl = chunk.indexOf(0x0a); nl !== -1; nl = chunk.indexOf(0x0a, start)) {
      const part = chunk.subarray(start, nl);
      start = nl + 1;
      if (this.pendingBytes + part.length > CONTROL_LIMITS.maxLineBytes) return this.tooLong();
      const line = Buffer.concat([...this.pending, part]).toString('utf8');
      this.pending = [];
      this.pendingBytes = 0;
      if (line.trim() !== '') this.queue.push(line);
    }
    const rest = chunk.subarray(start);
    if (this.pendingBytes + rest.length > CONTROL_LIMITS.maxLineBytes) return this.tooLong();
    if (rest.length > 0) {
      this.pending.push(rest);
      this.pendingBytes += rest.length;
    }
    if (this.queue.length >= CONTROL_LIMITS.maxQueuedRequests) this.socket.pause();
    void this.next();
  }

  private tooLong(): void {
    this.pending = [];
    this.pendingBytes = 0;
    this.queue.length = 0;
    this.refuse('TOO_LARGE', `a request line is longer than ${CONTROL_LIMITS.maxLineBytes} bytes`);
  }

  private async next(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      for (let line = this.queue.shift(); line !== undefined && !this.closed; line = this.queue.shift()) {
        if (this.queue.length < CONTROL_LIMITS.maxQueuedRequests && this.socket.isPaused()) this.socket.resume();
        try {
          await this.handle(line, this);
        } catch (err) {
          this.fail(undefined, 'INTERNAL', err instanceof Error ? err.message : String(err));
        }
      }
    } finally {
      this.busy = false;
    }
  }
}
