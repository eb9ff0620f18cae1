import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  FilterSyntaxError,
  MAX_PATTERN_LENGTH,
  matchFilter,
  parseFilters,
  quoteFilterValue,
  type FieldLookup,
} from '../../src/filters/index.js';

/** A cache-record shaped object, as the disk-usage filters will see it. */
interface Record_ {
  id: string;
  parents: string[];
  description?: string;
  inuse: boolean;
  type: string;
}

const lookup =
  (r: Record_): FieldLookup =>
  ([head, ...rest]) => {
    if (rest.length > 0) return undefined;
    switch (head) {
      case 'id':
        return r.id;
      case 'parents':
        return r.parents.length ? r.parents.join(',') : undefined;
      case 'description':
        return r.description;
      case 'inuse':
        return String(r.inuse);
      case 'type':
        return r.type;
    }
    return undefined;
  };

const records: Record_[] = [
  { id: 'aaa', parents: [], description: 'base image', inuse: false, type: 'regular' },
  { id: 'bbb', parents: ['aaa'], inuse: true, type: 'exec.cachemount' },
  { id: 'ccc', parents: ['bbb'], description: 'local source', inuse: false, type: 'source.local' },
];

const select = (filters: string[]): string[] => {
  const expr = parseFilters(filters, { allowedFields: ['id', 'parents', 'description', 'inuse', 'type'] });
  return records.filter((r) => matchFilter(expr, lookup(r))).map((r) => r.id);
};

describe('generic filters', () => {
  it.each([
    [[], ['aaa', 'bbb', 'ccc']],
    [[''], ['aaa', 'bbb', 'ccc']],
    [['inuse==true'], ['bbb']],
    [['inuse!=true'], ['aaa', 'ccc']],
    [['description'], ['aaa', 'ccc']],
    [['description!=""'], ['aaa', 'ccc']],
    [['description~=^local'], ['ccc']],
    [['type~="^(exec|source)\\\\."'], ['bbb', 'ccc']],
    [['inuse==false,description~=image'], ['aaa']],
    [
      ['id==aaa', 'id==ccc'],
      ['aaa', 'ccc'],
    ],
    [['  id  ==  bbb  '], ['bbb']],
    [['description=="base image"'], ['aaa']],
  ])('%j selects %j', (filters, expected) => {
    expect(select(filters)).toEqual(expected);
  });

  it('parses once into an AST that can be evaluated many times', () => {
    const expr = parseFilters(['labels."a.b/c"==x,kind!=view', 'name']);
    expect(expr.anyOf).toHaveLength(2);
    expect(expr.anyOf[0]![0]).toEqual({ fieldpath: ['labels', 'a.b/c'], operator: '==', value: 'x' });
    expect(expr.anyOf[1]![0]).toEqual({ fieldpath: ['name'], operator: 'present' });
  });

  it.each([
    ['id=', 2, /operator/],
    ['id==', 4, /value/],
    ['id==a,', 6, /selector/],
    ['bogus==1', 0, /unknown field "bogus"/],
    ['description~=[', 13, /regular expression/],
    ['"open==1', 0, /unterminated/],
    ['id==a b', 6, /expected ","/],
    ['id=="\\q"', 5, /escape/],
  ])('reports %j as a FilterSyntaxError at %i', (filter, position, reason) => {
    let err: unknown;
    try {
      select([filter]);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(FilterSyntaxError);
    const fe = err as FilterSyntaxError;
    expect(fe.filter).toBe(filter);
    expect(fe.position).toBe(position);
    expect(fe.reason).toMatch(reason);
    expect(fe.message).toContain(JSON.stringify(filter));
  });

  // containerd compiles `~=` with Go's regexp, which is RE2: inline flags and Unicode classes exist, lookarounds do not.
  it.each([
    [['description~=(?i)BASE'], ['aaa']],
    [['description~=\\pL+\\s\\pL+$'], ['aaa', 'ccc']],
    [['type~=|^exec\\.|'], ['bbb']],
  ])('reads %j as an RE2 pattern, as containerd does, selecting %j', (filters, expected) => {
    expect(select(filters)).toEqual(expected);
  });

  it('matches a pattern that backtracks exponentially in a backtracking engine, and gives the right answer', () => {
    // `(a+)+$` against "aaa…a!" takes 2^n steps with backtracking; an RE2 engine answers in one pass.
    const expr = parseFilters(['description~=(a+)+$']);
    const described =
      (description: string): FieldLookup =>
      (p) =>
        p[0] === 'description' ? description : undefined;
    expect(matchFilter(expr, described(`${'a'.repeat(50_000)}!`))).toBe(false);
    expect(matchFilter(expr, described(`!${'a'.repeat(50_000)}`))).toBe(true);
  });

  const syntaxErrorOf = (filter: string): FilterSyntaxError => {
    try {
      parseFilters([filter]);
    } catch (err) {
      expect(err).toBeInstanceOf(FilterSyntaxError);
      return err as FilterSyntaxError;
    }
    throw new Error(`expected ${JSON.stringify(filter)} to be refused`);
  };

  it('refuses a pattern longer than the bound when parsing, naming the filter, and accepts one at the bound', () => {
    const filter = `description~=${'a'.repeat(40_000)}`;
    const err = syntaxErrorOf(filter);
    expect(err.filter).toBe(filter);
    expect(err.position).toBe('description~='.length);
    expect(err.reason).toMatch(/40000 characters long; at most 1024/);
    // The message names the filter, cut short: it must not carry 40,000 characters into a log.
    expect(err.message).toContain(`"description~=aaa`);
    expect(err.message.length).toBeLessThan(400);
    expect(MAX_PATTERN_LENGTH).toBe(1024);
    expect(() => parseFilters([`description~=${'a'.repeat(1024)}`])).not.toThrow();
    expect(syntaxErrorOf(`description~=${'a'.repeat(1025)}`).reason).toMatch(/1025 characters long/);
  });

  it.each([
    ['description~=(?=x)', /invalid regular expression.*Perl syntax/],
    ['description~=(?<=x)y', /invalid regular expression/],
    ['description~=a{1001}', /invalid regular expression.*repeat count/],
    ['description~=|(|', /invalid regular expression.*missing closing \)/],
    ['description~=a\\', /invalid regular expression.*trailing backslash/],
  ])('refuses %j at parse time with a FilterSyntaxError', (filter, reason) => {
    const err = syntaxErrorOf(filter);
    expect(err.filter).toBe(filter);
    expect(err.position).toBe('description~='.length);
    expect(err.reason).toMatch(reason);
  });

  it('allows any field when no field rules are given, and wildcard rules match one segment', () => {
    expect(() => parseFilters(['anything.at.all==1'])).not.toThrow();
    expect(() => parseFilters(['labels.x==1'], { allowedFields: ['labels.*'] })).not.toThrow();
    expect(() => parseFilters(['labels.x.y==1'], { allowedFields: ['labels.*'] })).toThrow(FilterSyntaxError);
  });

  it('matches any quoted label key and value exactly (property)', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1 }), fc.string(), fc.string(), (key, value, other) => {
        const expr = parseFilters([`labels.${quoteFilterValue(key)}==${quoteFilterValue(value)}`]);
        const lookup =
          (labels: Record<string, string>): FieldLookup =>
          (p) =>
            p.length === 2 && p[0] === 'labels' ? labels[p[1]!] : undefined;
        expect(matchFilter(expr, lookup({ [key]: value }))).toBe(true);
        expect(matchFilter(expr, lookup({ [key]: other }))).toBe(other === value);
      }),
    );
  });
});
