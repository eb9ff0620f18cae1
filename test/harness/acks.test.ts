import { describe, expect, it } from 'vitest';
import { Expectations, type Ack } from './acks.js';

const log = (...acks: Ack[]) => `${acks.map((a) => JSON.stringify(a)).join('\n')}\n`;

describe('kill harness expectations', () => {
  it('a removal that fails NOT_FOUND after a prune took the record does not bring it back', () => {
    const exp = new Expectations();
    exp.apply(
      log(
        { op: 'new', lane: 0, id: 'a', parent: null, retain: false },
        { op: 'commit', lane: 0, id: 'a', hash: 'h1' },
        { op: 'prune-begin', lane: 1 },
        { op: 'remove-begin', lane: 0, id: 'a' },
        { op: 'prune-end', lane: 1, ids: ['a'] },
        { op: 'fail', lane: 0, what: 'remove', code: 'NOT_FOUND', id: 'a' },
      ),
    );
    expect(exp.content.has('a')).toBe(false);
    expect(exp.maybeGone.has('a')).toBe(false);
  });

  it('a removal refused (LOCKED) leaves the record promised', () => {
    const exp = new Expectations();
    exp.apply(
      log(
        { op: 'commit', lane: 0, id: 'a', hash: 'h1' },
        { op: 'remove-begin', lane: 0, id: 'a' },
        { op: 'fail', lane: 0, what: 'remove', code: 'LOCKED', id: 'a' },
      ),
    );
    expect(exp.content.get('a')).toBe('h1');
  });

  it('a removal cut short by the kill excuses the record, and only it', () => {
    const exp = new Expectations();
    exp.apply(
      log(
        { op: 'commit', lane: 0, id: 'a', hash: 'h1' },
        { op: 'commit', lane: 1, id: 'b', hash: 'h2' },
        { op: 'remove-begin', lane: 0, id: 'a' },
      ) + '{"op":"rem',
    );
    expect(exp.maybeGone.get('a')).toBe('h1');
    expect(exp.content.get('b')).toBe('h2');
  });
});
