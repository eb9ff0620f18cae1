/**
 * containerd-style filters, parsed once into an AST and evaluated against any
 * object through a field-lookup adaptor. Used by snapshot walks, disk usage,
 * prune policies and records$; depends on nothing else in cachekit.
 *
 * Syntax: a filter string is selectors joined by `,` (AND); several filter
 * strings are OR-ed. A selector is a field path (`a.b."quoted.key"`), alone for
 * presence or followed by `==`, `!=` or `~=` (regular expression, RE2 syntax as in
 * containerd) and a value. Values and field-path segments may be double-quoted with
 * backslash escapes; a pattern may also be delimited by `/…/` or `|…|`.
 */
export type {
  FilterOperator,
  FilterPattern,
  FilterSelector,
  FilterConjunction,
  FilterExpr,
  FieldLookup,
  FieldRule,
  FilterParseOptions,
} from './types.js';
export { FilterSyntaxError, isFilterSyntaxError, showFilter } from './errors.js';
export { parseFilters, quoteFilterValue } from './parse.js';
export { matchFilter } from './match.js';
export { MAX_PATTERN_LENGTH } from './pattern.js';
