/** A size or duration that does not parse; names the kind, the input and the reason. */
export class UnitParseError extends Error {
  override readonly name = 'UnitParseError';
  constructor(
    readonly kind: 'size' | 'duration',
    readonly input: string,
    readonly reason: string,
  ) {
    super(`invalid ${kind} ${JSON.stringify(input)}: ${reason}`);
  }
}
