/**
 * Go's `%.<precision>g` (fmt/strconv) for a non-negative number, so sizes print digit for digit as docker prints
 * them: correct rounding of the exact binary value to `precision` significant digits with ties to even, no trailing
 * zeros, and exponent form (`1.2e+05`) only when the decimal exponent is below -4 or at least the precision.
 * JavaScript's toPrecision rounds ties up (1.0625 → "1.063" where Go prints "1.062"), hence this file.
 */

interface Digits {
  /** Significant digits without trailing zeros; empty for zero. */
  digits: string;
  /** Decimal point position: value = 0.<digits> × 10^point. */
  point: number;
}

/** The exact decimal expansion of `value` (a double has at most ~770 digits; 101 cover every value we print). */
function exactDigits(value: number): Digits {
  if (value === 0) return { digits: '', point: 0 };
  const [mantissa, exponent] = value.toExponential(99).split('e') as [string, string];
  const digits = mantissa.replace('.', '').replace(/0+$/, '');
  return { digits, point: Number(exponent) + 1 };
}

/** Rounds to `count` significant digits, ties to even, as strconv's decimal.Round does. */
function roundDigits({ digits, point }: Digits, count: number): Digits {
  if (digits.length <= count) return { digits, point };
  const kept = digits.slice(0, count);
  const rest = digits.slice(count);
  const last = Number(kept[count - 1] ?? '0');
  const up = rest[0]! > '5' || (rest[0] === '5' && (/[1-9]/.test(rest.slice(1)) || last % 2 === 1));
  if (!up) return { digits: kept.replace(/0+$/, ''), point };
  // Add one at the last kept digit, carrying through nines.
  const chars = kept.split('');
  let i = count - 1;
  while (i >= 0 && chars[i] === '9') chars[i--] = '0';
  if (i < 0) return { digits: '1', point: point + 1 };
  chars[i] = String(Number(chars[i]) + 1);
  return { digits: chars.join('').replace(/0+$/, ''), point };
}

const digitAt = (d: Digits, index: number) => (index >= 0 && index < d.digits.length ? d.digits[index]! : '0');

function fixed(d: Digits, decimals: number): string {
  let out = d.point > 0 ? Array.from({ length: d.point }, (_, i) => digitAt(d, i)).join('') : '0';
  if (decimals > 0) out += `.${Array.from({ length: decimals }, (_, i) => digitAt(d, d.point + i)).join('')}`;
  return out;
}

function exponential(d: Digits, decimals: number): string {
  let out = d.digits[0] ?? '0';
  if (decimals > 0) out += `.${Array.from({ length: decimals }, (_, i) => digitAt(d, i + 1)).join('')}`;
  const exp = d.digits.length === 0 ? 0 : d.point - 1;
  return `${out}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
}

/** `fmt.Sprintf("%.*g", precision, value)` for a finite, non-negative value. */
export function formatGoG(value: number, precision: number): string {
  let prec = precision === 0 ? 1 : precision;
  const d = roundDigits(exactDigits(value), prec);
  const nd = d.digits.length;
  const eprec = prec > nd && nd >= d.point ? nd : prec;
  const exp = d.point - 1;
  if (exp < -4 || exp >= eprec) return exponential(d, Math.min(prec, nd) - 1);
  if (prec > d.point) prec = nd;
  return fixed(d, Math.max(prec - d.point, 0));
}
