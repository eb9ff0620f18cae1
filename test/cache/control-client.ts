import { connect, type Socket } from 'node:net';

/** A message the control socket sent, as parsed JSON. */
export type Message = { type: string; seq?: number | string; code?: string; message?: string } & Record<
  string,
  unknown
>;

/**
 * A bare client of the control socket that speaks raw lines, so a test can send what no well-behaved client
 * would. It records every message and whether the owner closed the connection.
 */
export class RawClient {
  readonly messages: Message[] = [];
  private buffer = '';
  private waiters: (() => void)[] = [];
  closed = false;

  private constructor(readonly socket: Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (text: string) => {
      this.buffer += text;
      for (let nl = this.buffer.indexOf('\n'); nl !== -1; nl = this.buffer.indexOf('\n')) {
        this.messages.push(JSON.parse(this.buffer.slice(0, nl)) as Message);
        this.buffer = this.buffer.slice(nl + 1);
      }
      this.wake();
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
  }

  static open(path: string): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = connect({ path });
      socket.once('connect', () => resolve(new RawClient(socket)));
      socket.once('error', reject);
    });
  }

  send(text: string): void {
    this.socket.write(text);
  }

  request(request: object): void {
    this.send(`${JSON.stringify(request)}\n`);
  }

  /** Waits (bounded, generously) until `check` holds; the bound only turns "never" into a failure. */
  async until(check: () => boolean, ms = 10_000): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!check()) {
      if (Date.now() > deadline) return false;
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 100);
      });
    }
    return true;
  }

  /** The first message matching, once it arrives. */
  async find(match: (m: Message) => boolean): Promise<Message | undefined> {
    await this.until(() => this.messages.some(match) || this.closed);
    return this.messages.find(match);
  }

  close(): void {
    this.socket.destroy();
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}
