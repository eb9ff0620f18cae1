/**
 * Human sizes, for the CLI and policy reasons.
 *
 * A plain integer is bytes. Suffixes are case-insensitive, an optional space may precede them:
 *   - `B`; SI `kB MB GB TB PB` are powers of 1000 (GB = 1e9), matching BuildKit's built-in defaults (512MB, 10GB);
 *   - IEC `KiB MiB GiB TiB PiB` are powers of 1024;
 *   - a bare letter `K M G T P` is binary, as docker's `units.RAMInBytes` reads it.
 *   Fractions are allowed with a unit (`1.5G`) and rounded to whole bytes; plain byte counts must be whole.
 *   Pass `{ docker: true }` to read sizes exactly as docker's go-units `RAMInBytes` does (what buildx's size flags
 *   use, and what the cachekit CLI uses): every suffix binary, so `10GB` = `10g` = `10GiB` = 10 × 2^30, `Gi` without
 *   `B` refused, and fractions truncated toward zero (`1.5` is 1 byte). See docker.ts.
 *   `20%` is a share of the disk: it returns a {@link DiskPercent} marker for the caller to resolve against disk total.
 */

import { dockerHumanSize, parseDockerBytes } from './docker.js';
import { UnitParseError } from './errors.js';

/** A size written as a percentage of the filesystem, e.g. `20%`. */
export interface DiskPercent {
  percent: number;
}

export function isDiskPercent(value: unknown): value is DiskPercent {
  return typeof value === 'object' && value !== null && typeof (value as DiskPercent).percent === 'number';
}

const KIB = 1024;
const DECIMAL: Record<string, number> = { k: 1e3, m: 1e6, g: 1e9, t: 1e12, p: 1e15 };
const BINARY: Record<string, number> = { k: KIB, m: KIB ** 2, g: KIB ** 3, t: KIB ** 4, p: KIB ** 5 };

export interface ParseSizeOptions {
  /** Read the size exactly as docker's go-units RAMInBytes does: every suffix binary (`10GB` = 10 GiB). */
  docker?: boolean;
}

const SIZE_RE = /^(\d+(?:\.\d+)?) ?(?:([kmgtp])(i)?(b)?|(b))?$/i;

/** Parses a size to bytes, or a {@link DiskPercent} for `N%`. */
export function parseSize(input: string, options: ParseSizeOptions = {}): number | DiskPercent {
  const text = input.trim();
  if (text.endsWith('%')) {
    const num = text.slice(0, -1).trim();
    if (!/^\d+(\.\d+)?$/.test(num))
      throw new UnitParseError('size', input, 'a percentage must be a number followed by %');
    const percent = Number(num);
    if (percent > 100) throw new UnitParseError('size', input, 'a percentage of the disk cannot exceed 100%');
    return { percent };
  }
  const bytes = parseBytesOnly(input, text, options);
  return bytes;
}

/** Like {@link parseSize} but rejects percentages: the value must be absolute. */
export function parseBytes(input: string, options: ParseSizeOptions = {}): number {
  const size = parseSize(input, options);
  if (isDiskPercent(size))
    throw new UnitParseError('size', input, 'a percentage is not allowed here; give an absolute size');
  return size;
}

function parseBytesOnly(input: string, text: string, options: ParseSizeOptions): number {
  if (options.docker === true) return parseDockerBytes(input, text);
  if (text === '') throw new UnitParseError('size', input, 'empty');
  if (text.startsWith('-')) throw new UnitParseError('size', input, 'must not be negative');
  const m = SIZE_RE.exec(text);
  if (m === null) {
    throw new UnitParseError(
      'size',
      input,
      'expected a number with an optional unit (B, kB, MB, GB, TB, PB, KiB, MiB, GiB, TiB, PiB, K, M, G, T, P) or N%',
    );
  }
  const [, num, letter, iec, bSuffix] = m;
  let multiplier = 1;
  if (letter !== undefined) {
    const key = letter.toLowerCase();
    const binary = iec !== undefined || bSuffix === undefined;
    multiplier = (binary ? BINARY : DECIMAL)[key] ?? 1;
  }
  if (iec !== undefined && bSuffix === undefined) {
    throw new UnitParseError('size', input, `"${letter}${iec}" needs a trailing B (e.g. ${letter}${iec}B)`);
  }
  if (multiplier === 1 && num!.includes('.'))
    throw new UnitParseError('size', input, 'a byte count must be a whole number');
  const bytes = Math.round(Number(num) * multiplier);
  if (!Number.isSafeInteger(bytes)) throw new UnitParseError('size', input, 'too large to represent exactly');
  return bytes;
}

/**
 * Resolves a parsed size against the filesystem's total bytes; percentages round down to whole bytes. (buildkitd's
 * own config rounds GC percentages up to whole GB instead: use diskPercentAsBytes from the policy module for that.)
 */
export function resolveSize(size: number | DiskPercent, diskTotal: number): number {
  return isDiskPercent(size) ? Math.floor((diskTotal * size.percent) / 100) : size;
}

export interface FormatSizeOptions {
  /** Use KiB/MiB/GiB… instead of kB/MB/GB…. */
  binary?: boolean;
  /** Digits after the point at most (trailing zeros dropped); default 2. */
  precision?: number;
  /**
   * Print as docker's go-units HumanSize does (buildx's du and prune): decimal units, 4 significant digits, e.g.
   * `1.5GB`, `237.6kB`, `1.235MB`. `binary` and `precision` do not apply.
   */
  docker?: boolean;
}

const DECIMAL_UNITS = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'] as const;
const BINARY_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'] as const;

/** Formats bytes for people, e.g. `1.5GB`; the output parses back with {@link parseSize} (to within the rounding). */
export function formatSize(bytes: number, options: FormatSizeOptions = {}): string {
  if (!Number.isFinite(bytes) || bytes < 0)
    throw new RangeError(`formatSize: ${bytes} is not a non-negative finite number`);
  if (options.docker === true) return dockerHumanSize(bytes);
  const base = options.binary === true ? KIB : 1000;
  const units = options.binary === true ? BINARY_UNITS : DECIMAL_UNITS;
  const precision = options.precision ?? 2;
  let index = 0;
  while (index < units.length - 1 && bytes >= base ** (index + 1)) index++;
  // Rounding can carry into the next unit (999.999kB → "1000kB"); step up so the output stays canonical.
  let value = bytes / base ** index;
  if (index < units.length - 1 && Number(value.toFixed(precision)) >= base) {
    index++;
    value = bytes / base ** index;
  }
  return `${trimFixed(value, index === 0 ? 0 : precision)}${units[index]}`;
}

function trimFixed(value: number, precision: number): string {
  const fixed = value.toFixed(precision);
  return fixed.includes('.') ? fixed.replace(/\.?0+$/, '') : fixed;
}
