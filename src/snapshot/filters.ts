/**
 * containerd-style filters, parsed once into an AST and evaluated against any
 * object through a field-lookup adaptor.
 *
 * Syntax: a filter string is selectors joined by `,` (AND); several filter
 * strings are OR-ed. A selector is a field path (`a.b."quoted.key"`), alone for
 * presence or followed by `==`, `!=` or `~=` (regular expression) and a value.
 * Values and field-path segments may be double-quoted with backslash escapes.
 */

export type FilterOperator = 'present' | '==' | '!=' | '~=';

export interface FilterSelector {
  fieldpath: string[];
  operator: FilterOperator;
  /** Absent for `present`. */
  value?: string;
  /** Compiled once for `~=`. */
  regex?: RegExp;
}

/** Selectors AND-ed together. */
export type FilterConjunction = FilterSelector[];

/** Conjunctions OR-ed together; an empty list matches everything. */
export interface FilterExpr {
  anyOf: FilterConjunction[];
}

/** Returns the field's value, or undefined when the field is absent. */
export type FieldLookup = (fieldpath: string[]) => string | undefined;

/**
 * Decides whether a field path may be used. Rules are strings: `name` allows
 * exactly that path, `labels.*` allows `labels.<any one segment>`.
 */
export type FieldRule = string;

export interface FilterParseOptions {
  /** When given, any other field path is a syntax error. */
  allowedFields?: readonly FieldRule[];
}

/** A filter that does not parse; carries which filter, where and why. */
export class FilterSyntaxError extends Error {
  override readonly name = 'FilterSyntaxError';
  constructor(
    readonly filter: string,
    readonly position: number,
    readonly reason: string,
  ) {
    super(`filter ${JSON.stringify(filter)} at ${position}: ${reason}`);
  }
}

/** Quotes a value or field-path segment so it parses back to exactly `s` (JSON string syntax). */
export function quoteFilterValue(s: string): string {
  return JSON.stringify(s);
}

export function isFilterSyntaxError(err: unknown): err is FilterSyntaxError {
  return err instanceof FilterSyntaxError;
}

const bareChar = /[A-Za-z0-9_\-/]/;

class FilterScanner {
  pos = 0;
  constructor(readonly src: string) {}

  fail(reason: string, at = this.pos): never {
    throw new FilterSyntaxError(this.src, at, reason);
  }

  skipSpace(): void {
    while (this.pos < this.src.length && /\s/.test(this.src[this.pos]!)) this.pos++;
  }

  atEnd(): boolean {
    this.skipSpace();
    return this.pos >= this.src.length;
  }

  peek(n = 1): string {
    return this.src.slice(this.pos, this.pos + n);
  }

  quoted(): string {
    const start = this.pos;
    this.pos++; // opening quote
    let out = '';
    while (this.pos < this.src.length) {
      const c = this.src[this.pos++]!;
      if (c === '"') return out;
      if (c !== '\\') {
        out += c;
        continue;
      }
      const e = this.src[this.pos++];
      const simple: Record<string, string> = {
        '"': '"',
        '\\': '\\',
        '/': '/',
        n: '\n',
        t: '\t',
        r: '\r',
        b: '\b',
        f: '\f',
      };
      if (e !== undefined && simple[e] !== undefined) out += simple[e];
      else if (e === 'u' && /^[0-9a-fA-F]{4}$/.test(this.peek(4))) {
        out += String.fromCharCode(parseInt(this.peek(4), 16));
        this.pos += 4;
      } else this.fail(`invalid escape \\${e ?? ''} in quoted string`, this.pos - 2);
    }
    return this.fail('unterminated quoted string', start);
  }

  fieldSegment(): string {
    this.skipSpace();
    if (this.peek() === '"') return this.quoted();
    const start = this.pos;
    while (this.pos < this.src.length && bareChar.test(this.src[this.pos]!)) this.pos++;
    if (this.pos === start)
      this.fail(
        this.pos >= this.src.length
          ? 'expected a field name'
          : `unexpected ${JSON.stringify(this.peek())}, expected a field name`,
      );
    return this.src.slice(start, this.pos);
  }

  /** A regular expression may also be delimited by /…/ or |…|, as containerd allows, so it can hold commas. */
  pattern(): string {
    this.skipSpace();
    const delimiter = this.peek();
    if (delimiter !== '/' && delimiter !== '|') return this.value();
    const start = this.pos++;
    const end = this.src.indexOf(delimiter, this.pos);
    if (end < 0) this.fail(`unterminated ${delimiter} in regular expression`, start);
    this.pos = end + 1;
    return this.src.slice(start + 1, end);
  }

  /** An unquoted value runs to the next comma or space; quote it to include those. */
  value(): string {
    this.skipSpace();
    if (this.peek() === '"') return this.quoted();
    const start = this.pos;
    while (this.pos < this.src.length && !/[,\s]/.test(this.src[this.pos]!)) {
      if (this.src[this.pos] === '"') this.fail('unexpected quote inside unquoted value');
      this.pos++;
    }
    if (this.pos === start) this.fail('expected a value after the operator');
    return this.src.slice(start, this.pos);
  }
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
  try {
    return { fieldpath, operator: op, value, regex: new RegExp(value) };
  } catch (err) {
    return s.fail(`invalid regular expression: ${(err as Error).message}`, opStart + 2);
  }
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

function selectorMatches(sel: FilterSelector, lookup: FieldLookup): boolean {
  const value = lookup(sel.fieldpath);
  switch (sel.operator) {
    case 'present':
      return value !== undefined;
    case '==':
      return value !== undefined && value === sel.value;
    case '!=':
      // An absent field compares as the empty string, so `parent!=""` means "has a parent".
      return (value ?? '') !== sel.value;
    case '~=':
      // As in containerd, an absent field is matched as the empty string.
      return sel.regex!.test(value ?? '');
  }
}

export function matchFilter(expr: FilterExpr, lookup: FieldLookup): boolean {
  if (expr.anyOf.length === 0) return true;
  return expr.anyOf.some((conj) => conj.every((sel) => selectorMatches(sel, lookup)));
}
