import type { FieldLookup, FilterExpr, FilterSelector } from './types.js';

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

/** True when the expression has no conjunctions, or every selector of some conjunction matches. */
export function matchFilter(expr: FilterExpr, lookup: FieldLookup): boolean {
  if (expr.anyOf.length === 0) return true;
  return expr.anyOf.some((conj) => conj.every((sel) => selectorMatches(sel, lookup)));
}
