import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  UnitParseError,
  formatAge,
  formatDuration,
  formatSize,
  parseBytes,
  parseDuration,
  parseSize,
  resolveSize,
} from '../../src/units/index.js';

const KIB = 1024;

describe('parseSize', () => {
  it.each([
    ['1234', 1234],
    ['0', 0],
    ['512B', 512],
    ['10GB', 10e9],
    ['10gb', 10e9],
    ['10 GB', 10e9],
    ['1.5kB', 1500],
    ['512MiB', 512 * KIB ** 2],
    ['2TiB', 2 * KIB ** 4],
    ['1.5G', 1.5 * KIB ** 3],
    ['100k', 100 * KIB],
    ['1PB', 1e15],
    [' 3MB ', 3e6],
  ])('%j is %d bytes', (input, bytes) => {
    expect(parseSize(input)).toBe(bytes);
  });

  // docker/go-units RAMInBytes, the parser of buildx's size flags: every suffix binary, bytes truncated toward zero.
  it.each([
    ['10GB', 10 * KIB ** 3],
    ['10g', 10 * KIB ** 3],
    ['10GiB', 10 * KIB ** 3],
    ['10 GB', 10 * KIB ** 3],
    ['1kb', KIB],
    ['512', 512],
    ['512b', 512],
    ['1.5', 1],
    ['1.5k', 1536],
    ['1e3', 1000],
  ])('docker mode reads %j as %d bytes', (input, bytes) => {
    expect(parseSize(input, { docker: true })).toBe(bytes);
  });

  it('10GB is 10737418240 bytes in docker mode', () => {
    expect(parseBytes('10GB', { docker: true })).toBe(10737418240);
  });

  it.each(['10Gi', '10GBB', '10x', 'GB', '-1k', '10 G B', '0x10'])('docker mode refuses %j', (input) => {
    expect(() => parseSize(input, { docker: true })).toThrow(UnitParseError);
  });

  it('returns a disk percentage marker, resolved by the caller', () => {
    const size = parseSize('20%');
    expect(size).toEqual({ percent: 20 });
    expect(resolveSize(size, 1000)).toBe(200);
    expect(resolveSize(parseSize('12.5%'), 999)).toBe(124);
    expect(resolveSize(4096, 1000)).toBe(4096);
  });

  it.each([
    ['', 'empty'],
    ['-5GB', 'must not be negative'],
    ['GB', 'expected a number'],
    ['10XB', 'expected a number'],
    ['10 G B', 'expected a number'],
    ['1e3', 'expected a number'],
    ['10Gi', 'needs a trailing B'],
    ['150%', 'cannot exceed 100%'],
    ['x%', 'percentage must be a number'],
    ['99999999PB', 'too large'],
    ['1.5', 'whole number'],
    ['1.5B', 'whole number'],
  ])('rejects %j (%s)', (input, reason) => {
    let error: unknown;
    try {
      parseSize(input);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(UnitParseError);
    const e = error as UnitParseError;
    expect(e.kind).toBe('size');
    expect(e.input).toBe(input);
    expect(e.message).toContain(JSON.stringify(input));
    expect(e.message).toContain(reason);
  });

  it('parseBytes refuses percentages', () => {
    expect(() => parseBytes('20%')).toThrow(/invalid size "20%": a percentage is not allowed here/);
    expect(parseBytes('2kB')).toBe(2000);
  });
});

describe('formatSize', () => {
  it.each([
    [0, {}, '0B'],
    [999, {}, '999B'],
    [1000, {}, '1kB'],
    [1500, {}, '1.5kB'],
    [999_999, {}, '1MB'],
    [7000, {}, '7kB'],
    [10e9, {}, '10GB'],
    [1536, { binary: true }, '1.5KiB'],
    [512 * KIB ** 2, { binary: true }, '512MiB'],
    [1234567, { precision: 0 }, '1MB'],
  ])('%d with %j is %s', (bytes, options, text) => {
    expect(formatSize(bytes, options)).toBe(text);
  });

  it('rejects negative and non-finite sizes', () => {
    expect(() => formatSize(-1)).toThrow(RangeError);
    expect(() => formatSize(Infinity)).toThrow(RangeError);
  });

  // Up to 4 PiB: near 2^53 the rounded text ("8PiB") names a value past the exactly representable range.
  const bytesArb = fc.oneof(fc.integer({ min: 0, max: 2 ** 20 }), fc.integer({ min: 0, max: 2 ** 52 }));

  it('round trips to within the printed precision, in both unit systems', () => {
    fc.assert(
      fc.property(bytesArb, fc.boolean(), (bytes, binary) => {
        const back = parseSize(formatSize(bytes, { binary })) as number;
        // two decimals of the chosen unit: at most half of 0.01 unit, i.e. 0.5 % of a value ≥ 1 unit
        expect(Math.abs(back - bytes)).toBeLessThanOrEqual(Math.max(0.5, bytes * 0.005));
      }),
    );
  });

  it('round trips exactly for whole multiples of a unit', () => {
    const unit = fc.constantFrom(1, 1e3, 1e6, 1e9, 1e12, KIB, KIB ** 2, KIB ** 3, KIB ** 4);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 999 }), unit, (count, size) => {
        const bytes = count * size;
        const binary = size >= KIB && Number.isInteger(Math.log2(size));
        expect(parseSize(formatSize(bytes, { binary }))).toBe(bytes);
      }),
    );
  });

  it('formatting is a fixed point after one round trip', () => {
    fc.assert(
      fc.property(bytesArb, fc.boolean(), (bytes, binary) => {
        const once = formatSize(bytes, { binary });
        expect(formatSize(parseSize(once) as number, { binary })).toBe(once);
      }),
    );
  });
});

describe('formatSize in docker mode (go-units HumanSize, %.4g)', () => {
  it.each([
    [0, '0B'],
    [512, '512B'],
    [1000, '1kB'],
    [237568, '237.6kB'],
    [917504, '917.5kB'],
    [1234567, '1.235MB'],
    [1.5e9, '1.5GB'],
    [999_999, '1000kB'], // Go rounds 999.999 to "1000" and keeps the unit
    [1_062_500, '1.062MB'], // an exact tie rounds to even, as strconv does (toPrecision would say 1.063)
    [1_063_500, '1.063MB'], // 1.0635 is stored as 1.06349999…: below the tie, so down
    [10737418240, '10.74GB'],
  ])('%d bytes print as %s', (bytes, text) => {
    expect(formatSize(bytes, { docker: true })).toBe(text);
  });
});

describe('durations', () => {
  it('requireUnit refuses a bare number but 0, as Go time.ParseDuration does', () => {
    expect(() => parseDuration('24', { requireUnit: true })).toThrow(/needs a unit/);
    expect(() => parseDuration('1.5', { requireUnit: true })).toThrow(/needs a unit/);
    expect(parseDuration('0', { requireUnit: true })).toBe(0);
    expect(parseDuration('24h', { requireUnit: true })).toBe(24 * 3600_000);
    expect(parseDuration('1h30m', { requireUnit: true })).toBe(90 * 60_000);
  });

  it('formats ages as docker HumanDuration does', () => {
    expect(formatAge(500, { docker: true })).toBe('Less than a second');
    expect(formatAge(1000, { docker: true })).toBe('1 second');
    expect(formatAge(59_000, { docker: true })).toBe('59 seconds');
    expect(formatAge(90_000, { docker: true })).toBe('About a minute');
    expect(formatAge(45 * 60_000, { docker: true })).toBe('45 minutes');
    expect(formatAge(89 * 60_000, { docker: true })).toBe('About an hour');
    expect(formatAge(5 * 3600_000, { docker: true })).toBe('5 hours');
    expect(formatAge(3 * 86_400_000, { docker: true })).toBe('3 days');
    expect(formatAge(21 * 86_400_000, { docker: true })).toBe('3 weeks');
    expect(formatAge(90 * 86_400_000, { docker: true })).toBe('3 months');
    expect(formatAge(800 * 86_400_000, { docker: true })).toBe('2 years');
  });

  it.each([
    ['48h', 48 * 3600_000],
    ['30m', 30 * 60_000],
    ['1h30m', 90 * 60_000],
    ['7d', 7 * 86_400_000],
    ['2w', 14 * 86_400_000],
    ['500ms', 500],
    ['1.5h', 90 * 60_000],
    ['1m30s250ms', 90_250],
    ['3600', 3600_000], // bare integer: seconds, as in buildkitd.toml
    [' 10s ', 10_000],
  ])('%j is %d ms', (input, ms) => {
    expect(parseDuration(input)).toBe(ms);
  });

  it.each([
    ['', 'empty'],
    ['-1h', 'must not be negative'],
    ['1y', 'expected whole seconds'],
    ['h', 'expected whole seconds'],
    ['1h 30m', 'expected whole seconds'],
    ['1.5', 'expected whole seconds'],
    ['1h30', 'expected whole seconds'],
    ['99999999999999w', 'too large'],
  ])('rejects %j (%s)', (input, reason) => {
    let error: unknown;
    try {
      parseDuration(input);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(UnitParseError);
    expect((error as UnitParseError).kind).toBe('duration');
    expect((error as UnitParseError).message).toBe(
      `invalid duration ${JSON.stringify(input)}: ${(error as UnitParseError).reason}`,
    );
    expect((error as UnitParseError).reason).toContain(reason);
  });

  it.each([
    [0, '0s'],
    [500, '500ms'],
    [90 * 60_000, '1h30m'],
    [48 * 3600_000, '2d'],
    [15 * 86_400_000 + 1, '2w1d1ms'],
  ])('formats %d ms as %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it('round trips every whole millisecond count exactly', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), (ms) => {
        expect(parseDuration(formatDuration(ms))).toBe(ms);
      }),
    );
  });

  it('rejects fractional or negative milliseconds when formatting', () => {
    expect(() => formatDuration(1.5)).toThrow(RangeError);
    expect(() => formatDuration(-1)).toThrow(RangeError);
  });

  it('formats ages by their largest unit, in days at most', () => {
    expect(formatAge(3 * 86_400_000 + 5)).toBe('3d');
    expect(formatAge(21 * 86_400_000)).toBe('21d');
    expect(formatAge(59_999)).toBe('59s');
    expect(formatAge(12)).toBe('12ms');
  });
});
