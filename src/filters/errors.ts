/** Longest part of a filter quoted in a message: a hostile 40,000-character filter must not flood logs. */
const SHOWN_CHARS = 120;

/** A filter as error messages show it: JSON-quoted, cut to a readable length. */
export function showFilter(filter: string): string {
  return filter.length <= SHOWN_CHARS
    ? JSON.stringify(filter)
    : `${JSON.stringify(filter.slice(0, SHOWN_CHARS))}… (${filter.length} characters)`;
}

/** A filter that does not parse; carries which filter, where and why. */
export class FilterSyntaxError extends Error {
  override readonly name = 'FilterSyntaxError';
  constructor(
    readonly filter: string,
    readonly position: number,
    readonly reason: string,
  ) {
    super(`filter ${showFilter(filter)} at ${position}: ${reason}`);
  }
}

export function isFilterSyntaxError(err: unknown): err is FilterSyntaxError {
  return err instanceof FilterSyntaxError;
}
