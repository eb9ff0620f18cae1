/**
 * The parsed form of containerd-style filters: selectors AND-ed within one
 * filter string, filter strings OR-ed.
 */

export type FilterOperator = 'present' | '==' | '!=' | '~=';

/** A compiled `~=` pattern; matching takes time linear in the pattern and the value. */
export interface FilterPattern {
  /** The pattern as written in the filter. */
  readonly source: string;
  /** True when the pattern matches anywhere in `value` (unanchored, as containerd's regexp.MatchString). */
  test(value: string): boolean;
}

export interface FilterSelector {
  fieldpath: string[];
  operator: FilterOperator;
  /** Absent for `present`. */
  value?: string;
  /** Compiled once for `~=`. */
  regex?: FilterPattern;
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
