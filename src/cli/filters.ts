import { quoted } from './escape.js';
import { durationFlag } from './options.js';

/** The `--filter` values of one command, as the engine takes them. */
export interface CliFilters {
  /** At most one containerd filter string: every `--filter` joined by `,`, so all must match. */
  filter: string[];
  /** From buildx's `until=DURATION` (or its older name `unused-for`): only records unused for at least this long. */
  until?: number;
}

/** buildx's `key=value`: a field name, then a single `=` (`==`, `!=` and `~=` are containerd operators). */
const BUILDX_FORM = /^([A-Za-z0-9_.-]+)\s*=(?!=)(.*)$/s;
const UNTIL_KEYS = ['until', 'unused-for'] as const;

/**
 * Turns repeated `--filter` values into what the engine reads, the way buildx's toBuildkitPruneInfo does: each
 * `key=value` becomes `key==value` (`id=value` becomes `id~=value`, buildx's prefix-friendly match), `until` and
 * `unused-for` become a duration, and all of them are joined into one filter, so they are ANDed. Values already in
 * containerd's syntax (`description~=v1`, `type==regular`, `inuse`) pass through unchanged, which buildx cannot do.
 * As in buildx, one key may be given once in the `key=value` form.
 */
export function cliFilters(values: readonly string[]): CliFilters {
  const parts: string[] = [];
  const seen = new Set<string>();
  let until: { key: string; ms: number } | undefined;
  for (const raw of values) {
    const text = raw.trim();
    if (text === '') continue;
    const match = BUILDX_FORM.exec(text);
    if (match === null) {
      parts.push(text);
      continue;
    }
    const key = match[1]!.toLowerCase();
    const value = match[2]!.trim();
    if (seen.has(key)) throw new Error(`--filter ${quoted(text)}: the ${quoted(key)} filter expects only one value`);
    seen.add(key);
    if ((UNTIL_KEYS as readonly string[]).includes(key)) {
      if (until !== undefined) throw new Error(`--filter: conflicting filters "until" and "unused-for"`);
      until = { key, ms: durationFlag(`--filter ${key}`, value) };
    } else parts.push(key === 'id' ? `id~=${value}` : `${key}==${value}`);
  }
  return { filter: parts.length ? [parts.join(',')] : [], ...(until ? { until: until.ms } : {}) };
}

/**
 * Checks each `--filter` on its own before they are joined, so an error names the filter the user typed.
 * Loaded lazily: the filter parser pulls in the regular-expression engine.
 */
export async function checkFilterParts(values: readonly string[]): Promise<void> {
  const { parsePruneFilters } = await import('../cache/policy/index.js');
  parsePruneFilters(values.map((v) => cliFilters([v]).filter[0] ?? '').filter((v) => v !== ''));
}
