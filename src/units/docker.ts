/**
 * Sizes and ages the way docker and buildx read and print them (github.com/docker/go-units), for a CLI that
 * buildx users type into: `RAMInBytes` reads every suffix as binary (`10GB` = `10g` = `10GiB` = 10 × 2^30), and
 * `HumanSize` prints decimal units with 4 significant digits (`1.5GB`, `237.6kB`).
 */

import { UnitParseError } from './errors.js';
import { formatGoG } from './go-format.js';

const KIB = 1024;
const BINARY: Record<string, number> = { k: KIB, m: KIB ** 2, g: KIB ** 3, t: KIB ** 4, p: KIB ** 5 };
const DECIMAL_UNITS = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB', 'ZB', 'YB'] as const;

/** What Go's strconv.ParseFloat accepts in decimal (hex floats, Inf and NaN are refused here). */
const GO_FLOAT = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

const SUFFIX_HINT = 'expected a number with an optional unit: B, or K, M, G, T, P optionally followed by B or iB';

/**
 * go-units' RAMInBytes: a number, then optionally one space, then a suffix of `b`, or one of `k m g t p` optionally
 * followed by `b` or `ib` (case-insensitive), all binary. Bytes are truncated toward zero as Go's int64() does
 * (`1.5` is 1 byte, `1.5k` is 1536).
 */
export function parseDockerBytes(input: string, text: string): number {
  if (text === '') throw new UnitParseError('size', input, 'empty');
  let num: string;
  let suffix: string;
  const space = text.indexOf(' ');
  if (space >= 0) {
    num = text.slice(0, space);
    suffix = text.slice(space + 1);
  } else {
    let end = text.length - 1;
    while (end >= 0 && !/[0-9.]/.test(text[end]!)) end--;
    if (end < 0) throw new UnitParseError('size', input, SUFFIX_HINT);
    num = text.slice(0, end + 1);
    suffix = text.slice(end + 1);
  }
  if (!GO_FLOAT.test(num)) throw new UnitParseError('size', input, SUFFIX_HINT);
  let size = Number(num);
  if (size < 0) throw new UnitParseError('size', input, 'must not be negative');
  const lower = suffix.toLowerCase();
  if (lower !== '' && lower !== 'b') {
    const multiplier = BINARY[lower[0]!];
    const tail = lower.slice(1);
    if (multiplier === undefined || !(tail === '' || tail === 'b' || tail === 'ib'))
      throw new UnitParseError('size', input, `unknown unit ${JSON.stringify(suffix)}: ${SUFFIX_HINT}`);
    size *= multiplier;
  }
  const bytes = Math.trunc(size);
  if (!Number.isSafeInteger(bytes)) throw new UnitParseError('size', input, 'too large to represent exactly');
  return bytes === 0 ? 0 : bytes;
}

/** go-units' HumanSize: divide by 1000 while the value is at least 1000, then `%.4g` and the decimal unit. */
export function dockerHumanSize(bytes: number): string {
  let size = bytes;
  let index = 0;
  while (size >= 1000 && index < DECIMAL_UNITS.length - 1) {
    size /= 1000;
    index++;
  }
  return `${formatGoG(size, 4)}${DECIMAL_UNITS[index]}`;
}

/** go-units' HumanDuration: "Less than a second", "About a minute", "5 hours", "3 weeks"… */
export function dockerHumanDuration(ms: number): string {
  const seconds = Math.trunc(ms / 1000);
  if (seconds < 1) return 'Less than a second';
  if (seconds === 1) return '1 second';
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.trunc(ms / 60_000);
  if (minutes === 1) return 'About a minute';
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.trunc(ms / 3_600_000 + 0.5);
  if (hours === 1) return 'About an hour';
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.trunc(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.trunc(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.trunc(hours / 24 / 30)} months`;
  return `${Math.trunc(Math.trunc(ms / 3_600_000) / 24 / 365)} years`;
}
