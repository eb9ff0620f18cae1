/**
 * Why the metadata store refused or failed:
 * - `NOT_FOUND`: no metadata at the path (a read-only open never creates it);
 * - `CORRUPT`: a stored value does not pass its schema;
 * - `DAMAGED`: the LMDB file itself fails its header check and was not opened;
 * - `UNSUPPORTED_VERSION`: the stored schema version is malformed or newer than this code;
 * - `READ_ONLY`: a write to a store opened read-only.
 */
export type MetadataErrorCode = 'NOT_FOUND' | 'CORRUPT' | 'DAMAGED' | 'UNSUPPORTED_VERSION' | 'READ_ONLY';

/** A metadata store failure; names the store's path, the record when there is one, and the reason. */
export class MetadataError extends Error {
  override readonly name = 'MetadataError';
  /** The record concerned, for `CORRUPT` of one record. */
  readonly id: string | undefined;

  constructor(
    readonly code: MetadataErrorCode,
    /** The store's directory. */
    readonly path: string,
    message: string,
    options?: { cause?: unknown; id?: string },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.id = options?.id;
  }
}

export function isMetadataError(err: unknown, code?: MetadataErrorCode): err is MetadataError {
  return err instanceof MetadataError && (code === undefined || err.code === code);
}
