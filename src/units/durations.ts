/**
 * Human durations, for the CLI and policy reasons.
 *
 * A plain integer is seconds (as in buildkitd.toml). Otherwise one or more `<number><unit>` parts,
 * units `ms s m h d w` (d = 24h, w = 7d), e.g. `48h`, `1h30m`, `7d`, `500ms`, `1.5h`. Results are milliseconds,
 * rounded to whole milliseconds. With `{ requireUnit: true }` (the CLI, like Go's time.ParseDuration that buildx
 * uses) a bare number other than `0` is refused, so `24` cannot silently mean 24 seconds.
 */

import { dockerHumanDuration } from './docker.js';
import { UnitParseError } from './errors.js';

export interface ParseDurationOptions {
  /** Refuse a bare number (but `0`), as Go's time.ParseDuration does: `24` must be written `24h`, `24m` or `24s`. */
  requireUnit?: boolean;
}

export interface FormatAgeOptions {
  /** Print as docker's go-units HumanDuration does (buildx's LAST ACCESSED): `5 minutes`, `About an hour`. */
  docker?: boolean;
}

const DURATION_UNITS: ReadonlyArray<readonly [string, number]> = [
  ['w', 7 * 24 * 3600_000],
  ['d', 24 * 3600_000],
  ['h', 3600_000],
  ['m', 60_000],
  ['s', 1000],
  ['ms', 1],
];
const DURATION_MS: Record<string, number> = Object.fromEntries(DURATION_UNITS);

/** Parses a duration to milliseconds. */
export function parseDuration(input: string, options: ParseDurationOptions = {}): number {
  const text = input.trim();
  if (text === '') throw new UnitParseError('duration', input, 'empty');
  if (text.startsWith('-')) throw new UnitParseError('duration', input, 'must not be negative');
  if (options.requireUnit === true && /^\d+(?:\.\d+)?$/.test(text) && Number(text) !== 0)
    throw new UnitParseError(
      'duration',
      input,
      `needs a unit, e.g. ${text}h, ${text}m or ${text}s (units: w d h m s ms)`,
    );
  if (/^\d+$/.test(text)) return checkedMs(input, Number(text) * 1000);
  const part = /(\d+(?:\.\d+)?)(ms|[wdhms])/gy;
  let total = 0;
  let consumed = 0;
  let seen = 0;
  for (let m = part.exec(text); m !== null; m = part.exec(text)) {
    total += Number(m[1]) * (DURATION_MS[m[2]!] ?? 0);
    consumed = part.lastIndex;
    seen++;
  }
  if (seen === 0 || consumed !== text.length) {
    throw new UnitParseError(
      'duration',
      input,
      'expected whole seconds or parts like 1h30m, 48h, 7d, 500ms (units: w d h m s ms)',
    );
  }
  return checkedMs(input, Math.round(total));
}

function checkedMs(input: string, ms: number): number {
  if (!Number.isSafeInteger(ms)) throw new UnitParseError('duration', input, 'too large to represent exactly');
  return ms;
}

/** Formats milliseconds exactly as compound units, e.g. 5_400_000 → `1h30m`; 0 → `0s`. */
export function formatDuration(ms: number): string {
  if (!Number.isSafeInteger(ms) || ms < 0)
    throw new RangeError(`formatDuration: ${ms} is not a non-negative whole number of ms`);
  if (ms === 0) return '0s';
  let rest = ms;
  let out = '';
  for (const [unit, size] of DURATION_UNITS) {
    const count = Math.floor(rest / size);
    if (count > 0) {
      out += `${count}${unit}`;
      rest -= count * size;
    }
  }
  return out;
}

/** Formats milliseconds roughly, largest unit only, for reasons: 9d, 5h, 42s (days rather than weeks read better). */
export function formatAge(ms: number, options: FormatAgeOptions = {}): string {
  if (options.docker === true) return dockerHumanDuration(ms);
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms`;
  for (const [unit, size] of DURATION_UNITS) {
    if (unit !== 'ms' && unit !== 'w' && ms >= size) return `${Math.floor(ms / size)}${unit}`;
  }
  return `${Math.round(ms)}ms`;
}
