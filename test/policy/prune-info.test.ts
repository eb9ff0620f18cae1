import { describe, expect, it } from 'vitest';
import { PolicyError, parsePruneInfo } from '../../src/cache/policy/index.js';

function issuesOf(input: unknown): readonly string[] {
  try {
    parsePruneInfo(input);
  } catch (err) {
    expect(err).toBeInstanceOf(PolicyError);
    return (err as PolicyError).issues;
  }
  throw new Error('expected parsePruneInfo to throw');
}

describe('parsePruneInfo', () => {
  it('accepts every field and an empty policy', () => {
    const full = {
      all: true,
      filter: ['type==regular'],
      keepDuration: 3600_000,
      reservedSpace: 1,
      maxUsedSpace: 2,
      minFreeSpace: 3,
      dryRun: false,
    };
    expect(parsePruneInfo(full)).toEqual(full);
    expect(parsePruneInfo({})).toEqual({});
  });

  it('returns a copy, so later edits of the input do not leak in', () => {
    const input = { filter: ['id==a'] };
    const parsed = parsePruneInfo(input);
    input.filter.push('id==b');
    expect(parsed.filter).toEqual(['id==a']);
  });

  it.each([
    ['negative size', { maxUsedSpace: -1 }, 'maxUsedSpace: must not be negative'],
    ['fractional size', { reservedSpace: 1.5 }, 'reservedSpace: must be a whole number of bytes'],
    ['infinite size', { minFreeSpace: Infinity }, 'minFreeSpace:'],
    ['NaN duration', { keepDuration: Number.NaN }, 'keepDuration:'],
    ['fractional duration', { keepDuration: 0.5 }, 'keepDuration: must be a whole number of milliseconds'],
    ['unsafe integer', { maxUsedSpace: 2 ** 60 }, 'maxUsedSpace:'],
    ['string size', { maxUsedSpace: '10GB' }, 'maxUsedSpace:'],
    ['unknown key', { keepStorage: 1 }, '"keepStorage": unknown field'],
    ['filter not a list', { filter: 'type==regular' }, 'filter:'],
    ['empty filter string', { filter: [''] }, 'filter.0: must not be empty'],
    ['all not boolean', { all: 'yes' }, 'all:'],
    ['dryRun not boolean', { dryRun: 1 }, 'dryRun:'],
  ])('rejects %s', (_name, input, expected) => {
    const issues = issuesOf(input);
    expect(issues).toHaveLength(1);
    expect(issues[0]).toContain(expected);
  });

  it('reports every problem at once, naming each field in the message', () => {
    const err = (() => {
      try {
        parsePruneInfo({ maxUsedSpace: -5, keepDuration: 1.5, bogus: true, other: 1, filter: [3] });
      } catch (e) {
        return e as PolicyError;
      }
      throw new Error('expected a throw');
    })();
    expect(err.name).toBe('PolicyError');
    expect(err.issues).toHaveLength(4);
    for (const field of ['maxUsedSpace', 'keepDuration', '"bogus"', '"other"', 'filter.0'])
      expect(err.message).toContain(field);
    expect(err.message).toMatch(/^invalid prune policy: /);
  });

  it.each([null, undefined, 42, 'policy', []])('rejects non-object %j', (input) => {
    expect(issuesOf(input)[0]).toMatch(/^policy: /);
  });
});
