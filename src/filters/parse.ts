import { FilterSyntaxError } from './errors.js';
import { compilePattern } from './pattern.js';
import { FilterScanner } from './scanner.js';
import type { FieldRule, FilterConjunction, FilterExpr, FilterParseOptions, FilterSelector } from './types.js';

/** Quotes a value or field-path segment so it parses back to exactly `s` (JSON string syntax). */
export function quoteFilterValue(s: string): string {
  return JSON.stringify(s);
}

function fieldAllowed(path: string[], rules: readonly FieldRule[]): boolean {
  return rules.some((rule) => {
    const parts = rule.split('.');
    if (parts.length !== path.length) return false;
    return parts.every((p, i) => p === '*' || p === path[i]);
  });
}

function parseSelector(s: FilterScanner, options: FilterParseOptions): FilterSelector {
  s.skipSpace();
  const fieldStart = s.pos;
  const fieldpath = [s.fieldSegment()];
  while (s.peek() === '.') {
    s.pos++;
    fieldpath.push(s.fieldSegment());
  }
  if (options.allowedFields && !fieldAllowed(fieldpath, options.allowedFields)) {
    s.fail(
      `unknown field ${JSON.stringify(fieldpath.join('.'))} (allowed: ${options.allowedFields.join(', ')})`,
      fieldStart,
    );
  }
  s.skipSpace();
  const opStart = s.pos;
  const op = s.peek(2);
  if (op !== '==' && op !== '!=' && op !== '~=') {
    if (s.pos < s.src.length && s.peek() !== ',')
      s.fail(`unexpected ${JSON.stringify(s.peek())}, expected an operator (==, !=, ~=) or ","`);
    return { fieldpath, operator: 'present' };
  }
  s.pos += 2;
  const value = op === '~=' ? s.pattern() : s.value();
  if (op !== '~=') return { fieldpath, operator: op, value };
  // Compiled here, so a bad pattern is refused before anything is matched.
  const compiled = compilePattern(value);
  if (!compiled.ok) return s.fail(compiled.reason, opStart + 2);
  return { fieldpath, operator: op, value, regex: compiled.pattern };
}

function parseOne(filter: string, options: FilterParseOptions): FilterConjunction | undefined {
  const s = new FilterScanner(filter);
  if (s.atEnd()) return undefined; // an empty filter string places no constraint
  const selectors: FilterConjunction = [];
  for (;;) {
    selectors.push(parseSelector(s, options));
    if (s.atEnd()) return selectors;
    if (s.peek() !== ',') s.fail(`unexpected ${JSON.stringify(s.peek())}, expected ","`);
    s.pos++;
    if (s.atEnd()) s.fail('expected a selector after ","');
  }
}

/** Parses filter strings (OR-ed) into one expression; throws FilterSyntaxError. */
export function parseFilters(filters: readonly string[], options: FilterParseOptions = {}): FilterExpr {
  const anyOf: FilterConjunction[] = [];
  for (const f of filters) {
    if (typeof f !== 'string') throw new FilterSyntaxError(String(f), 0, 'filter must be a string');
    const conj = parseOne(f, options);
    // An empty filter string matches everything, which makes the whole OR match everything.
    if (conj === undefined) return { anyOf: [] };
    anyOf.push(conj);
  }
  return { anyOf };
}
