import { SnapshotError } from './errors.js';

/**
 * Keys and names are at most 4096 UTF-8 bytes. They never become paths (a
 * snapshot lives under its numeric id), and the metadata store indexes them by
 * digest, so the bound only keeps records small.
 */
export const MAX_KEY_BYTES = 4096;
/** containerd's limit on one label: key and value together. */
export const MAX_LABEL_BYTES = 4096;

// Control characters (C0, DEL, C1) and lone surrogates are not printable. Without
// the `u` flag the pattern sees UTF-16 code units, so lone surrogates are caught.
const unprintable =
  /[\u0000-\u001f\u007f-\u009f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function firstUnprintable(s: string): number {
  const m = unprintable.exec(s);
  return m ? m.index : -1;
}

/** Throws INVALID_ARGUMENT naming `what` (key, name, parent) unless `value` is a usable key. */
export function validateKey(op: string, what: string, value: unknown): asserts value is string {
  const shown = typeof value === 'string' ? value : undefined;
  if (typeof value !== 'string')
    throw new SnapshotError('INVALID_ARGUMENT', op, shown, `${what} must be a string, got ${typeof value}`);
  if (value.length === 0) throw new SnapshotError('INVALID_ARGUMENT', op, value, `${what} must not be empty`);
  const bytes = Buffer.byteLength(value, 'utf8');
  if (bytes > MAX_KEY_BYTES) {
    throw new SnapshotError(
      'INVALID_ARGUMENT',
      op,
      `${value.slice(0, 64)}…`,
      `${what} is ${bytes} bytes, more than ${MAX_KEY_BYTES}`,
    );
  }
  const at = firstUnprintable(value);
  if (at >= 0)
    throw new SnapshotError('INVALID_ARGUMENT', op, value, `${what} has an unprintable character at index ${at}`);
}

/** Checks labels and returns a copy without empty values (an empty value deletes a label). */
export function normalizeLabels(op: string, key: string, labels: unknown): Record<string, string> {
  if (labels === undefined) return {};
  if (labels === null || typeof labels !== 'object' || Array.isArray(labels)) {
    throw new SnapshotError('INVALID_ARGUMENT', op, key, 'labels must be an object of strings');
  }
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(labels)) {
    if (typeof v !== 'string')
      throw new SnapshotError('INVALID_ARGUMENT', op, key, `label ${JSON.stringify(k)} has a non-string value`);
    if (k.length === 0) throw new SnapshotError('INVALID_ARGUMENT', op, key, 'label key must not be empty');
    if (firstUnprintable(k) >= 0)
      throw new SnapshotError(
        'INVALID_ARGUMENT',
        op,
        key,
        `label key ${JSON.stringify(k)} has an unprintable character`,
      );
    const bytes = Buffer.byteLength(k, 'utf8') + Buffer.byteLength(v, 'utf8');
    if (bytes > MAX_LABEL_BYTES) {
      throw new SnapshotError(
        'INVALID_ARGUMENT',
        op,
        key,
        `label ${JSON.stringify(k.slice(0, 64))}: key and value are ${bytes} bytes, more than ${MAX_LABEL_BYTES}`,
      );
    }
    if (v !== '') out[k] = v;
  }
  return out;
}
