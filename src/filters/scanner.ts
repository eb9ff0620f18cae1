import { FilterSyntaxError } from './errors.js';

const bareChar = /[A-Za-z0-9_\-/]/;

const SIMPLE_ESCAPES: Readonly<Record<string, string>> = {
  '"': '"',
  '\\': '\\',
  '/': '/',
  n: '\n',
  t: '\t',
  r: '\r',
  b: '\b',
  f: '\f',
};

/** Reads the tokens of one filter string; every failure is a FilterSyntaxError at the offending offset. */
export class FilterScanner {
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

  /** A double-quoted string with JSON's escapes. */
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
      if (e !== undefined && SIMPLE_ESCAPES[e] !== undefined) out += SIMPLE_ESCAPES[e];
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
