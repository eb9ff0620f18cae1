import {
  isFilterSyntaxError,
  matchFilter,
  parseFilters as parseFilterExpr,
  showFilter,
  type FilterConjunction,
  type FieldLookup,
} from '../../filters/index.js';
import { PolicyError } from './errors.js';
import { parentsOf, recordTypeOf, type RecordSummary } from './record.js';

/**
 * containerd's filter syntax (the shared parser in src/filters) over
 * the fields BuildKit exposes for cache records. Unlike containerd, which reads
 * unknown fields as absent, an unknown field is an error: it is almost always
 * a typo that would silently select nothing (or everything, with `!=`).
 */
export const FILTER_FIELDS = [
  'id',
  'parents',
  'description',
  'inuse',
  'mutable',
  'immutable',
  'type',
  'shared',
  'private',
  'key',
] as const;

export type FilterField = (typeof FILTER_FIELDS)[number];

/** One filter string: selectors that must all match. */
export type FilterSelectors = FilterConjunction;

/** Every filter string parsed, or one PolicyError listing each bad filter and why. */
export function parseFilters(filters: readonly string[]): FilterSelectors[] {
  const parsed: FilterSelectors[] = [];
  const issues: string[] = [];
  for (const text of filters) {
    try {
      const { anyOf } = parseFilterExpr([text], { allowedFields: FILTER_FIELDS });
      // An empty filter string places no constraint: it matches every record.
      parsed.push(anyOf[0] ?? []);
    } catch (err) {
      if (!isFilterSyntaxError(err)) throw err;
      issues.push(`filter ${showFilter(text)}: ${err.reason} at offset ${err.position}`);
    }
  }
  if (issues.length > 0) throw new PolicyError('prune filters', issues);
  return parsed;
}

/** A record's fields the way BuildKit's usage adaptor presents them: flags are present (as "") when true. */
export function recordLookup(record: RecordSummary): FieldLookup {
  const flag = (on: boolean) => (on ? '' : undefined);
  return ([field]) => {
    switch (field) {
      case 'id':
        return record.id || undefined;
      case 'parents': {
        const parents = parentsOf(record);
        return parents.length ? parents.join(';') : undefined;
      }
      case 'description':
        return record.description || undefined;
      case 'inuse':
        return flag(record.inUse);
      case 'mutable':
        return flag(record.mutable === true);
      case 'immutable':
        return flag(record.mutable !== true);
      case 'type':
        return recordTypeOf(record);
      case 'shared':
        return flag(record.shared);
      case 'private':
        return flag(!record.shared);
      case 'key':
        return record.key;
      default:
        return undefined;
    }
  };
}

/** True when no filters are given or any one filter has every selector matching. */
export function matchesFilters(filters: readonly FilterSelectors[], record: RecordSummary): boolean {
  if (filters.length === 0) return true;
  const lookup = recordLookup(record);
  return filters.some((selectors) => matchFilter({ anyOf: [selectors] }, lookup));
}
