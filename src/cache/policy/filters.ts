import { PolicyError } from './errors.js';
import { parentsOf, recordTypeOf, type RecordSummary } from './record.js';

/**
 * containerd's filter syntax, as BuildKit applies it to cache records: a filter is comma-separated selectors that must
 * all match; a list of filters matches when any filter does. A selector is `field` (present), `field==value`,
 * `field!=value` or `field~=regexp`; values may be quoted with "double" or 'single' quotes, regexps also /like this/
 * or |like this|. As in containerd, `!=` and `~=` also apply to absent fields (read as ""), and `==` needs the field
 * present. Unlike containerd, which treats unknown fields as absent, an unknown field is an error here: it is almost
 * always a typo that would silently select nothing (or everything, with `!=`).
 */
export type FilterOperator = 'present' | '==' | '!=' | '~=';

export interface FilterSelector {
  field: string;
  operator: FilterOperator;
  value: string;
  regexp?: RegExp;
}

/** Fields BuildKit exposes to prune filters. */
export const FILTER_FIELDS = ['id', 'parents', 'description', 'inuse', 'mutable', 'immutable', 'type', 'shared', 'private'] as const;

export type FilterField = (typeof FILTER_FIELDS)[number];

/** Every selector of every filter string, or one PolicyError listing each bad filter and why. */
export function parseFilters(filters: readonly string[]): FilterSelector[][] {
  const parsed: FilterSelector[][] = [];
  const issues: string[] = [];
  for (const text of filters) {
    try {
      parsed.push(parseFilter(text));
    } catch (err) {
      issues.push(`filter ${JSON.stringify(text)}: ${(err as Error).message}`);
    }
  }
  if (issues.length > 0) throw new PolicyError('prune filters', issues);
  return parsed;
}

function parseFilter(text: string): FilterSelector[] {
  const selectors: FilterSelector[] = [];
  let pos = 0;
  const skipSpace = () => {
    while (pos < text.length && /\s/.test(text[pos]!)) pos++;
  };
  skipSpace();
  if (pos === text.length) return selectors; // an empty filter matches everything, as in containerd
  for (;;) {
    skipSpace();
    const fieldMatch = /^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*/.exec(text.slice(pos));
    if (fieldMatch === null) throw new Error(`expected a field name at offset ${pos}`);
    const field = fieldMatch[0];
    pos += field.length;
    if (!(FILTER_FIELDS as readonly string[]).includes(field)) {
      throw new Error(`unknown field ${JSON.stringify(field)} (known: ${FILTER_FIELDS.join(', ')})`);
    }
    skipSpace();
    const op = text.slice(pos, pos + 2);
    if (op === '==' || op === '!=' || op === '~=') {
      pos += 2;
      skipSpace();
      const { value, quoted } = readValue(op === '~=');
      if (value === '' && !quoted) throw new Error(`missing value after ${op} for ${field}`);
      const selector: FilterSelector = { field, operator: op, value };
      if (op === '~=') {
        try {
          selector.regexp = new RegExp(value);
        } catch (err) {
          throw new Error(`bad regular expression ${JSON.stringify(value)}: ${(err as Error).message}`);
        }
      }
      selectors.push(selector);
    } else if (text[pos] === '=') {
      throw new Error(`single "=" after ${field}; use "==", "!=" or "~="`);
    } else {
      selectors.push({ field, operator: 'present', value: '' });
    }
    skipSpace();
    if (pos === text.length) return selectors;
    if (text[pos] !== ',') throw new Error(`unexpected ${JSON.stringify(text[pos])} at offset ${pos}`);
    pos++;
  }

  function readValue(regexp: boolean): { value: string; quoted: boolean } {
    const quote = text[pos];
    if (quote === '"' || quote === "'" || (regexp && (quote === '/' || quote === '|'))) {
      let value = '';
      pos++;
      while (pos < text.length && text[pos] !== quote) {
        if (text[pos] === '\\' && pos + 1 < text.length) pos++;
        value += text[pos];
        pos++;
      }
      if (pos === text.length) throw new Error(`unterminated ${quote} quote`);
      pos++;
      return { value, quoted: true };
    }
    const start = pos;
    while (pos < text.length && text[pos] !== ',' && !/\s/.test(text[pos]!)) pos++;
    return { value: text.slice(start, pos), quoted: false };
  }
}

/** A record's filter fields the way BuildKit's adaptUsageInfo presents them: [value, present]. */
function fieldOf(record: RecordSummary, field: string): [string, boolean] {
  switch (field) {
    case 'id':
      return [record.id, record.id !== ''];
    case 'parents': {
      const parents = parentsOf(record);
      return [parents.join(';'), parents.length > 0];
    }
    case 'description':
      return [record.description ?? '', (record.description ?? '') !== ''];
    case 'inuse':
      return ['', record.inUse];
    case 'mutable':
      return ['', record.mutable === true];
    case 'immutable':
      return ['', record.mutable !== true];
    case 'type':
      return [recordTypeOf(record), true];
    case 'shared':
      return ['', record.shared];
    case 'private':
      return ['', !record.shared];
    default:
      return ['', false];
  }
}

function selectorMatches(selector: FilterSelector, record: RecordSummary): boolean {
  const [value, present] = fieldOf(record, selector.field);
  switch (selector.operator) {
    case 'present':
      return present;
    case '==':
      return present && value === selector.value;
    case '!=':
      return value !== selector.value;
    case '~=':
      return selector.regexp !== undefined && selector.regexp.test(value);
  }
}

/** True when no filters are given or any one filter has every selector matching. */
export function matchesFilters(filters: readonly FilterSelector[][], record: RecordSummary): boolean {
  if (filters.length === 0) return true;
  return filters.some((selectors) => selectors.every((s) => selectorMatches(s, record)));
}
