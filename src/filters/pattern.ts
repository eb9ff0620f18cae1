import { RE2JS, RE2JSException } from 're2js';
import type { FilterPattern } from './types.js';

/**
 * Longest `~=` pattern accepted, in UTF-16 code units. Patterns come from users
 * (CLI flags, API callers, the inspector); a bound keeps compiling cheap and
 * the compiled program small, since matching costs pattern size × value length.
 */
export const MAX_PATTERN_LENGTH = 1024;

/** A compiled pattern, or why the source is refused. */
export type CompiledPattern = { ok: true; pattern: FilterPattern } | { ok: false; reason: string };

/**
 * Compiles a `~=` pattern with RE2 semantics (re2js), the syntax containerd's
 * Go regexp uses too. RE2 matches in time linear in the value: no pattern can
 * make a match backtrack for ever. Lookarounds and backreferences do not exist
 * in RE2, so they are refused here, as containerd refuses them.
 */
export function compilePattern(source: string): CompiledPattern {
  if (source.length > MAX_PATTERN_LENGTH)
    return {
      ok: false,
      reason: `regular expression is ${source.length} characters long; at most ${MAX_PATTERN_LENGTH} are allowed`,
    };
  try {
    const compiled = RE2JS.compile(source);
    return { ok: true, pattern: { source, test: (value) => compiled.test(value) } };
  } catch (err) {
    if (!(err instanceof RE2JSException)) throw err;
    return { ok: false, reason: `invalid regular expression: ${err.message}` };
  }
}
