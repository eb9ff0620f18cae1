/** Why a registry operation failed; one code per cause a caller may branch on. */
export type RegistryErrorCode =
  | 'INVALID_REFERENCE'
  | 'INSECURE_REFUSED'
  | 'CONFIG_INVALID'
  | 'UNAUTHORIZED'
  | 'DENIED'
  | 'NOT_FOUND'
  | 'DIGEST_MISMATCH'
  | 'SIZE_EXCEEDED'
  | 'INVALID_MANIFEST'
  | 'INVALID_RESPONSE'
  | 'UNSUPPORTED'
  | 'UPLOAD_FAILED'
  | 'UNEXPECTED_STATUS'
  | 'NETWORK'
  | 'TIMEOUT'
  | 'ABORTED';

/** What a registry failure is about: every field a reader needs to find the object that failed. */
export interface RegistryErrorContext {
  /** The operation, e.g. `GET blob` or `PUT manifest`. */
  op: string;
  /** Registry host as written in the reference (`127.0.0.1:5000`). */
  registry: string;
  repository?: string | undefined;
  digest?: string | undefined;
  /** Tag or digest the manifest was addressed by. */
  reference?: string | undefined;
  /** HTTP status of the last response, when there was one. */
  status?: number | undefined;
  /** The upload session URL of an interrupted blob upload, so a later push can resume it. */
  uploadUrl?: string | undefined;
}

/** A registry failure; the message names the registry, the repository, the digest and the HTTP status. */
export class RegistryError extends Error {
  override readonly name = 'RegistryError';
  readonly op: string;
  readonly registry: string;
  readonly repository: string | undefined;
  readonly digest: string | undefined;
  readonly reference: string | undefined;
  readonly status: number | undefined;
  readonly uploadUrl: string | undefined;

  constructor(
    readonly code: RegistryErrorCode,
    context: RegistryErrorContext,
    reason: string,
    options?: { cause?: unknown },
  ) {
    super(`${describeContext(context)}: ${reason}`, options);
    this.op = context.op;
    this.registry = context.registry;
    this.repository = context.repository;
    this.digest = context.digest;
    this.reference = context.reference;
    this.status = context.status;
    this.uploadUrl = context.uploadUrl;
  }
}

function describeContext(c: RegistryErrorContext): string {
  let where = c.registry;
  if (c.repository !== undefined) where += `/${c.repository}`;
  const parts = [`${c.op} ${where}`];
  if (c.reference !== undefined && c.reference !== c.digest) parts.push(`reference ${c.reference}`);
  if (c.digest !== undefined) parts.push(`digest ${c.digest}`);
  if (c.status !== undefined) parts.push(`HTTP ${c.status}`);
  return parts.join(', ');
}

export function isRegistryError(err: unknown, code?: RegistryErrorCode): err is RegistryError {
  return err instanceof RegistryError && (code === undefined || err.code === code);
}

/** Maps an HTTP status the registry answered with to the code a caller acts on. */
export function codeForStatus(status: number): RegistryErrorCode {
  if (status === 401) return 'UNAUTHORIZED';
  if (status === 403) return 'DENIED';
  if (status === 404) return 'NOT_FOUND';
  return 'UNEXPECTED_STATUS';
}
