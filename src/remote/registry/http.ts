import { RegistryError, type RegistryErrorContext } from './errors.js';
import { errorBodySchema, MAX_SMALL_JSON_BYTES } from './schemas.js';

/**
 * One attempt's abort controller: aborted when the caller's signal fires or when nothing has
 * arrived for `idleMs` (the timer restarts on every `touch`, so a slow but moving stream lives on).
 */
export class Deadline {
  readonly controller = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  timedOut = false;
  private readonly onAbort = () => this.controller.abort(this.outer?.reason);

  constructor(
    readonly idleMs: number,
    private readonly outer: AbortSignal | undefined,
  ) {
    if (outer?.aborted) this.controller.abort(outer.reason);
    else outer?.addEventListener('abort', this.onAbort, { once: true });
    this.touch();
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  touch(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    if (this.controller.signal.aborted) return;
    this.timer = setTimeout(() => {
      this.timedOut = true;
      this.controller.abort(new Error(`no progress for ${this.idleMs} ms`));
    }, this.idleMs);
    this.timer.unref();
  }

  finish(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.outer?.removeEventListener('abort', this.onAbort);
  }
}

/** Turns a thrown fetch/stream failure into the typed error: timeout, caller abort, or network. */
export function transportError(err: unknown, deadline: Deadline, ctx: RegistryErrorContext): RegistryError {
  if (err instanceof RegistryError) return err;
  if (deadline.timedOut)
    return new RegistryError('TIMEOUT', ctx, `no progress for ${deadline.idleMs} ms`, { cause: err });
  if (deadline.signal.aborted) return new RegistryError('ABORTED', ctx, 'cancelled by the caller', { cause: err });
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  const detail = cause?.code ?? cause?.message ?? (err instanceof Error ? err.message : String(err));
  return new RegistryError('NETWORK', ctx, `connection failed (${detail})`, { cause: err });
}

/**
 * Reads a response body into memory, refusing more than `max` bytes: the declared Content-Length
 * is checked first, then the bytes actually streamed, so a lying server cannot make us buffer more.
 */
export async function readBounded(
  res: Response,
  max: number,
  ctx: RegistryErrorContext,
  deadline?: Deadline,
): Promise<Buffer> {
  const declared = Number(res.headers.get('content-length') ?? Number.NaN);
  if (declared > max) {
    await res.body?.cancel().catch(() => undefined);
    throw new RegistryError('SIZE_EXCEEDED', ctx, `declares ${declared} bytes, more than the ${max} accepted`);
  }
  if (res.body === null) return Buffer.alloc(0);
  const chunks: Buffer[] = [];
  let total = 0;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    deadline?.touch();
    total += value.byteLength;
    if (total > max) {
      await reader.cancel().catch(() => undefined);
      throw new RegistryError('SIZE_EXCEEDED', ctx, `sent more than the ${max} bytes accepted`);
    }
    chunks.push(Buffer.from(value.buffer, value.byteOffset, value.byteLength));
  }
  return Buffer.concat(chunks, total);
}

/** The error for a status we did not expect, with the registry's own error codes when it sent them. */
export async function statusError(res: Response, ctx: RegistryErrorContext, code: RegistryError['code']) {
  let detail = '';
  try {
    const body = await readBounded(res, MAX_SMALL_JSON_BYTES, ctx);
    const parsed = errorBodySchema.safeParse(JSON.parse(body.toString('utf8')));
    if (parsed.success) {
      detail = parsed.data.errors.map((e) => (e.message ? `${e.code}: ${e.message}` : e.code)).join('; ');
    }
  } catch {
    // The body is only an explanation; the status alone still makes the error.
  }
  const reason = detail !== '' ? detail : `unexpected answer ${res.status} ${res.statusText}`.trim();
  return new RegistryError(code, { ...ctx, status: res.status }, reason);
}

/** Delay before retry `attempt` (0-based): exponential with jitter, or the server's Retry-After, both capped. */
export function retryDelay(attempt: number, baseMs: number, capMs: number, retryAfter: string | null): number {
  if (retryAfter !== null) {
    const seconds = Number(retryAfter);
    const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(retryAfter) - Date.now();
    if (Number.isFinite(ms) && ms >= 0) return Math.min(ms, capMs);
  }
  const exp = Math.min(capMs, baseMs * 2 ** attempt);
  return exp / 2 + Math.random() * (exp / 2);
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export function isRetriableStatus(status: number): boolean {
  return status === 429 || (status >= 500 && status <= 599 && status !== 501);
}
