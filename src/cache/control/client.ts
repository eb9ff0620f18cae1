import { connect, type Socket } from 'node:net';
import type { z } from 'zod';
import { CacheError, type CacheErrorCode } from '../errors.js';
import {
  CONTROL_PROTOCOL,
  type ControlErrorCode,
  type ControlMessage,
  ControlMessageSchema,
  type ControlRequest,
  controlSocketPath,
  type Hello,
  HelloSchema,
  socketPathProblem,
  type WireDelta,
  WireDeltaSchema,
} from './protocol.js';

/** Longest line the client reads from an owner: a chunk of records is far smaller. */
const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

/** A failure the owner reported, or a broken conversation with it; `code` as the protocol names it. */
export class ControlError extends Error {
  override readonly name = 'ControlError';
  constructor(
    readonly code: ControlErrorCode | 'UNAVAILABLE' | 'PROTOCOL',
    message: string,
  ) {
    super(message);
  }

  /** The manager's own errors (NOT_FOUND, INVALID, ...) as the CacheError the owner threw. */
  toCacheError(): CacheError | undefined {
    const codes: readonly string[] = ['LOCKED', 'NOT_FOUND', 'INVALID', 'CLOSED', 'NEEDS_RECOVERY'];
    return codes.includes(this.code) ? new CacheError(this.code as CacheErrorCode, this.message) : undefined;
  }
}

type Request = ControlRequest extends infer R ? (R extends { seq?: unknown } ? Omit<R, 'seq'> : never) : never;
type Listener = (message: Exclude<ControlMessage, Hello>) => void;

/** What a watch reports until it ends; `end` says why (the owner closed, the connection broke). */
export interface WatchHandlers {
  delta(delta: WireDelta): void;
  end(reason: string): void;
}

/**
 * Talks to the control socket a root's owner serves. Connecting resolves only once the owner has said hello,
 * so an absent socket, a refused connection, a busy owner or a stale file are all the same answer: UNAVAILABLE.
 */
export class ControlClient {
  private buffer = '';
  private nextSeq = 1;
  private readonly listeners = new Map<number, Listener>();
  private ended: string | undefined;
  private readonly endWaiters = new Set<(reason: string) => void>();

  private constructor(
    private readonly socket: Socket,
    readonly hello: Hello,
  ) {}

  /** Connects to the owner of `root`; UNAVAILABLE when there is none to answer within `timeoutMs`. */
  static connect(root: string, options: { timeoutMs?: number } = {}): Promise<ControlClient> {
    const path = controlSocketPath(root);
    const timeoutMs = options.timeoutMs ?? 1000;
    const problem = socketPathProblem(path);
    // Connecting to the cut path could reach another socket: refuse before trying.
    if (problem) return Promise.reject(new ControlError('UNAVAILABLE', `no control socket at ${path}: ${problem}`));
    return new Promise<ControlClient>((resolve, reject) => {
      const socket = connect({ path });
      let client: ControlClient | undefined;
      let pending = '';
      const fail = (why: string) => {
        clearTimeout(timer);
        socket.destroy();
        reject(new ControlError('UNAVAILABLE', `no owner answers on ${path}: ${why}`));
      };
      const timer = setTimeout(() => fail(`no answer within ${timeoutMs} ms`), timeoutMs);
      socket.on('error', (err: NodeJS.ErrnoException) => {
        if (client) return client.finish(`the connection to the owner broke: ${err.code ?? err.message}`);
        fail(err.code === 'ENOENT' ? 'no socket (no owner, or one that does not serve it)' : (err.code ?? err.message));
      });
      socket.on('close', () => {
        if (client) client.finish('the owner closed the connection');
        else fail('the connection closed before the owner said hello');
      });
      socket.on('data', (chunk: Buffer) => {
        if (client) return client.receive(chunk.toString('utf8'));
        pending += chunk.toString('utf8');
        const nl = pending.indexOf('\n');
        if (nl === -1) return void (pending.length > 4096 && fail('a first line that is not a hello'));
        const first = parseLine(pending.slice(0, nl));
        if (first?.type === 'error') return fail(`${first.code}: ${first.message}`);
        const hello = HelloSchema.safeParse(first);
        if (!hello.success) return fail('a first line that is not a hello');
        if (hello.data.protocol !== CONTROL_PROTOCOL)
          return fail(`protocol ${hello.data.protocol}, this client speaks ${CONTROL_PROTOCOL}`);
        clearTimeout(timer);
        client = new ControlClient(socket, hello.data);
        resolve(client);
        client.receive(pending.slice(nl + 1));
      });
    });
  }

  /** A request answered by one value, checked with `schema`. */
  async result<S extends z.ZodType>(request: Request, schema: S): Promise<z.output<S>> {
    const values = await this.ask(request, () => {});
    return parsePayload(schema, values[0], request.type);
  }

  /** A request answered by a list in chunks; `onProgress` receives the owner's progress messages. */
  async list<S extends z.ZodType>(
    request: Request,
    schema: S,
    onProgress?: (p: { done: number; total: number; bytes: number }) => void,
  ): Promise<z.output<S>[]> {
    const items = await this.ask(request, (m) => {
      if (m.type === 'progress') onProgress?.(m);
    });
    return items.map((item) => parsePayload(schema, item, request.type));
  }

  /** Streams the owner's live view; returns a function that stops it. */
  watch(handlers: WatchHandlers): () => void {
    const seq = this.nextSeq++;
    let done = false;
    const end = (reason: string) => {
      if (done) return;
      done = true;
      this.listeners.delete(seq);
      this.endWaiters.delete(end);
      handlers.end(reason);
    };
    this.listeners.set(seq, (m) => {
      if (m.type === 'error') return end(`${m.code}: ${m.message}`);
      if (m.type !== 'delta') return;
      const delta = WireDeltaSchema.safeParse(m.delta);
      if (delta.success) handlers.delta(delta.data);
      else end('the owner sent a delta this client cannot read');
    });
    this.onEnd(end);
    this.send({ ...request('watch'), seq });
    return () => {
      done = true;
      this.listeners.delete(seq);
      this.close();
    };
  }

  close(): void {
    this.socket.destroy();
  }

  private ask(req: Request, other: Listener): Promise<unknown[]> {
    const seq = this.nextSeq++;
    return new Promise<unknown[]>((resolve, reject) => {
      const items: unknown[] = [];
      const settle = (fn: () => void) => {
        this.listeners.delete(seq);
        this.endWaiters.delete(onEnd);
        fn();
      };
      const onEnd = (reason: string) => settle(() => reject(new ControlError('UNAVAILABLE', reason)));
      this.listeners.set(seq, (m) => {
        if (m.type === 'error') settle(() => reject(new ControlError(m.code, m.message)));
        else if (m.type === 'result') settle(() => resolve([m.value]));
        else if (m.type === 'chunk') items.push(...m.items);
        else if (m.type === 'end') settle(() => resolve(items));
        else other(m);
      });
      this.onEnd(onEnd);
      this.send({ ...req, seq });
    });
  }

  private send(request: object): void {
    this.socket.write(`${JSON.stringify(request)}\n`);
  }

  private onEnd(waiter: (reason: string) => void): void {
    if (this.ended !== undefined) waiter(this.ended);
    else this.endWaiters.add(waiter);
  }

  private finish(reason: string): void {
    if (this.ended !== undefined) return;
    this.ended = reason;
    for (const waiter of [...this.endWaiters]) waiter(reason);
    this.endWaiters.clear();
  }

  private receive(text: string): void {
    this.buffer += text;
    for (let nl = this.buffer.indexOf('\n'); nl !== -1; nl = this.buffer.indexOf('\n')) {
      const line = this.buffer.slice(0, nl);
      this.buffer = this.buffer.slice(nl + 1);
      this.dispatch(line);
    }
    if (this.buffer.length > MAX_MESSAGE_BYTES) {
      this.finish(`the owner sent a line longer than ${MAX_MESSAGE_BYTES} bytes`);
      this.socket.destroy();
    }
  }

  private dispatch(line: string): void {
    const parsed = ControlMessageSchema.safeParse(parseLine(line));
    if (!parsed.success || parsed.data.type === 'hello') return;
    const message = parsed.data;
    if (typeof message.seq === 'number') this.listeners.get(message.seq)?.(message);
    // An error for no request in particular ends the conversation (the owner is closing, or refused us).
    else if (message.type === 'error') this.finish(`${message.code}: ${message.message}`);
  }
}

const request = <T extends Request['type']>(type: T) => ({ type });

function parseLine(line: string): { type?: unknown; code?: unknown; message?: unknown } | undefined {
  try {
    const value: unknown = JSON.parse(line);
    return typeof value === 'object' && value !== null ? value : undefined;
  } catch {
    return undefined;
  }
}

function parsePayload<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success)
    throw new ControlError('PROTOCOL', `the owner's answer to ${what} does not have the expected shape`);
  return parsed.data;
}
