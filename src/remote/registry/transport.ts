import { basicAuthorization, type Credentials, parseChallenge, resolveCredentials } from './credentials.js';
import { codeForStatus, RegistryError, type RegistryErrorContext } from './errors.js';
import { Deadline, isRetriableStatus, readBounded, retryDelay, sleep, statusError, transportError } from './http.js';
import { isLoopback, registryBaseUrl } from './reference.js';
import { MAX_SMALL_JSON_BYTES, tokenResponseSchema } from './schemas.js';

/** How to reach one registry: security, credentials, timeouts and retry bounds. */
export interface TransportOptions {
  /** Allow plain HTTP to a host that is not loopback. */
  insecure?: boolean | undefined;
  /** Force plain HTTP (loopback or insecure only) or HTTPS; default: HTTP for loopback and insecure hosts. */
  plainHttp?: boolean | undefined;
  auth?: Credentials | undefined;
  dockerConfigPath?: string | undefined;
  /** Abort an attempt when nothing arrives for this long (headers or body bytes). Default 30 s. */
  timeoutMs?: number | undefined;
  /** Retries after the first attempt on 5xx, 429 and connection failures. Default 4. */
  retries?: number | undefined;
  /** First backoff delay; doubles each retry. Default 250 ms. */
  retryBaseMs?: number | undefined;
  /** Upper bound on any one delay, including a server's Retry-After. Default 10 s. */
  maxRetryDelayMs?: number | undefined;
}

/** One logical request; `body` is a factory so a retry or an auth round trip can send it again. */
export interface RegistryRequest {
  op: string;
  method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** A path under the registry (`/v2/...`) or an absolute URL the registry gave (upload Location). */
  url: string;
  repository: string;
  digest?: string | undefined;
  reference?: string | undefined;
  /** Token scopes, e.g. `repository:team/cache:pull,push`. */
  scopes: string[];
  headers?: Record<string, string> | undefined;
  body?: (() => NonNullable<RequestInit['body']>) | undefined;
  /** Statuses that count as success; others become typed errors. */
  expect: number[];
  signal?: AbortSignal | undefined;
  /** Whether to retry on 5xx/429/network failure; default true. */
  retry?: boolean | undefined;
}

/** A successful answer and the deadline that keeps watching while its body is read. */
export interface RegistryResponse {
  res: Response;
  url: URL;
  deadline: Deadline;
  context: RegistryErrorContext;
}

/** HTTP to one registry: scheme policy, Basic and Bearer auth, per-attempt timeouts, bounded retries. */
export class Transport {
  readonly baseUrl: string;
  private readonly plainHttp: boolean;
  private credentials: Promise<Credentials | undefined> | undefined;
  private basic: string | undefined;
  private readonly tokens = new Map<string, string>();
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly retryBaseMs: number;
  private readonly maxRetryDelayMs: number;

  constructor(
    readonly registry: string,
    private readonly options: TransportOptions = {},
  ) {
    const allowed = isLoopback(registry) || options.insecure === true;
    this.plainHttp = options.plainHttp ?? allowed;
    if (this.plainHttp && !allowed) {
      throw new RegistryError(
        'INSECURE_REFUSED',
        { op: 'connect', registry },
        'plain HTTP is only used for loopback hosts or with insecure: true',
      );
    }
    this.baseUrl = registryBaseUrl(registry, this.plainHttp);
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.retries = options.retries ?? 4;
    this.retryBaseMs = options.retryBaseMs ?? 250;
    this.maxRetryDelayMs = options.maxRetryDelayMs ?? 10_000;
  }

  /** Sends the request, answering auth challenges and retrying transient failures; throws typed errors. */
  async send(req: RegistryRequest): Promise<RegistryResponse> {
    const ctx: RegistryErrorContext = {
      op: req.op,
      registry: this.registry,
      repository: req.repository,
      digest: req.digest,
      reference: req.reference,
    };
    const url = this.resolve(req.url, ctx);
    let authRounds = 0;
    for (let attempt = 0; ; attempt++) {
      const deadline = new Deadline(this.timeoutMs, req.signal);
      let res: Response;
      try {
        res = await fetch(url, {
          method: req.method,
          headers: { ...req.headers, ...this.authorization(req.scopes) },
          body: req.body?.(),
          signal: deadline.signal,
          redirect: 'follow',
          ...(req.body !== undefined ? { duplex: 'half' } : {}),
        } as RequestInit);
      } catch (err) {
        deadline.finish();
        const typed = transportError(err, deadline, ctx);
        if (typed.code === 'NETWORK' && req.retry !== false && attempt < this.retries) {
          await this.pause(attempt, null, req.signal, ctx);
          continue;
        }
        throw typed;
      }
      if (req.expect.includes(res.status)) return { res, url, deadline, context: { ...ctx, status: res.status } };
      if (res.status === 401 && authRounds < 2) {
        authRounds++;
        const challenge = res.headers.get('www-authenticate');
        await res.body?.cancel().catch(() => undefined);
        deadline.finish();
        await this.answerChallenge(challenge, req.scopes, { ...ctx, status: 401 }, authRounds > 1);
        attempt--;
        continue;
      }
      if (isRetriableStatus(res.status) && req.retry !== false && attempt < this.retries) {
        const retryAfter = res.headers.get('retry-after');
        await res.body?.cancel().catch(() => undefined);
        deadline.finish();
        await this.pause(attempt, retryAfter, req.signal, ctx);
        continue;
      }
      const err = await statusError(res, ctx, codeForStatus(res.status));
      deadline.finish();
      throw err;
    }
  }

  /** Resolves a path or a registry-given URL, refusing a plain-HTTP URL the policy does not allow. */
  resolve(target: string, ctx: RegistryErrorContext): URL {
    let url: URL;
    try {
      url = new URL(target, this.baseUrl);
    } catch (err) {
      throw new RegistryError('INVALID_RESPONSE', ctx, `not a URL: ${JSON.stringify(target)}`, { cause: err });
    }
    if (url.protocol === 'http:' && !isLoopback(url.host) && this.options.insecure !== true) {
      throw new RegistryError('INSECURE_REFUSED', ctx, `refusing plain HTTP to ${url.host}`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new RegistryError('INVALID_RESPONSE', ctx, `unsupported URL scheme ${url.protocol}`);
    }
    return url;
  }

  private authorization(scopes: string[]): Record<string, string> {
    const token = this.tokens.get(scopes.join(' '));
    if (token !== undefined) return { authorization: `Bearer ${token}` };
    if (this.basic !== undefined) return { authorization: this.basic };
    return {};
  }

  private async pause(
    attempt: number,
    retryAfter: string | null,
    signal: AbortSignal | undefined,
    ctx: RegistryErrorContext,
  ) {
    try {
      await sleep(retryDelay(attempt, this.retryBaseMs, this.maxRetryDelayMs, retryAfter), signal);
    } catch (err) {
      throw new RegistryError('ABORTED', ctx, 'cancelled by the caller while waiting to retry', { cause: err });
    }
  }

  private loadCredentials(): Promise<Credentials | undefined> {
    this.credentials ??= resolveCredentials(this.registry, this.options);
    return this.credentials;
  }

  /** Answers a 401: Basic with the credentials, or a token fetched from the Bearer realm. */
  private async answerChallenge(header: string | null, scopes: string[], ctx: RegistryErrorContext, again: boolean) {
    const challenge = header === null ? undefined : parseChallenge(header);
    const creds = await this.loadCredentials();
    if (challenge?.scheme === 'basic') {
      if (creds === undefined)
        throw new RegistryError('UNAUTHORIZED', ctx, 'the registry asks for credentials and none are configured');
      if (again || this.basic !== undefined)
        throw new RegistryError('UNAUTHORIZED', ctx, `credentials for ${JSON.stringify(creds.username)} were rejected`);
      this.basic = basicAuthorization(creds);
      return;
    }
    if (challenge?.scheme !== 'bearer') {
      throw new RegistryError('UNAUTHORIZED', ctx, `unsupported or missing challenge ${JSON.stringify(header ?? '')}`);
    }
    if (again) {
      const who = creds === undefined ? 'anonymous access' : `credentials for ${JSON.stringify(creds.username)}`;
      throw new RegistryError('UNAUTHORIZED', ctx, `the token granted to ${who} was rejected`);
    }
    const realm = challenge.params.realm;
    if (realm === undefined) throw new RegistryError('INVALID_RESPONSE', ctx, 'Bearer challenge without a realm');
    const tokenUrl = this.resolve(realm, ctx);
    if (challenge.params.service !== undefined) tokenUrl.searchParams.set('service', challenge.params.service);
    const wanted =
      challenge.params.scope !== undefined ? [...new Set([...scopes, ...challenge.params.scope.split(' ')])] : scopes;
    for (const s of wanted) tokenUrl.searchParams.append('scope', s);
    const tokenCtx = { ...ctx, op: `${ctx.op} (token)`, status: undefined };
    const deadline = new Deadline(this.timeoutMs, undefined);
    try {
      const res = await fetch(tokenUrl, {
        headers: creds === undefined ? {} : { authorization: basicAuthorization(creds) },
        signal: deadline.signal,
      });
      if (res.status !== 200) {
        throw await statusError(
          res,
          tokenCtx,
          res.status === 401 || res.status === 403 ? 'UNAUTHORIZED' : 'UNEXPECTED_STATUS',
        );
      }
      const body = await readBounded(res, MAX_SMALL_JSON_BYTES, tokenCtx, deadline);
      let json: unknown;
      try {
        json = JSON.parse(body.toString('utf8'));
      } catch (err) {
        throw new RegistryError('INVALID_RESPONSE', tokenCtx, 'token answer is not JSON', { cause: err });
      }
      const parsed = tokenResponseSchema.safeParse(json);
      if (!parsed.success)
        throw new RegistryError('INVALID_RESPONSE', tokenCtx, `token answer ${parsed.error.issues[0]?.message}`);
      this.tokens.set(scopes.join(' '), (parsed.data.token ?? parsed.data.access_token)!);
    } catch (err) {
      throw transportError(err, deadline, tokenCtx);
    } finally {
      deadline.finish();
    }
  }
}
