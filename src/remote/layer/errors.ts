/** Why making or applying a layer failed. */
export type LayerErrorCode =
  | 'PATH_ESCAPE'
  | 'THROUGH_SYMLINK'
  | 'NOT_A_DIRECTORY'
  | 'LINK_ESCAPE'
  | 'LINK_TARGET_MISSING'
  | 'WHITEOUT_INVALID'
  | 'DEVICE_REFUSED'
  | 'ENTRY_TOO_LARGE'
  | 'LAYER_TOO_LARGE'
  | 'UNSUPPORTED_ENTRY'
  | 'INVALID_TAR'
  | 'DIFF_ID_MISMATCH'
  | 'COMPRESSION_UNSUPPORTED'
  | 'SOURCE_INVALID'
  | 'ABORTED';

/** A layer failure; the message names the tar entry (or directory) and the reason. */
export class LayerError extends Error {
  override readonly name = 'LayerError';
  constructor(
    readonly code: LayerErrorCode,
    /** The tar entry name or filesystem path the failure is about. */
    readonly entry: string,
    reason: string,
    options?: { cause?: unknown },
  ) {
    super(`${JSON.stringify(entry)}: ${reason}`, options);
  }
}

export function isLayerError(err: unknown, code?: LayerErrorCode): err is LayerError {
  return err instanceof LayerError && (code === undefined || err.code === code);
}
