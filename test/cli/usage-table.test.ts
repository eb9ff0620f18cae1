import { describe, expect, it } from 'vitest';
import type { UsageInfo } from '../../src/cache/usage.js';
import { renderUsageBlock, renderUsageTable } from '../../src/cli/usage-table.js';

const now = Date.parse('2026-01-02T00:00:00Z');
const row = (id: string, size: number, extra: Partial<UsageInfo> = {}): UsageInfo => ({
  id,
  mutable: false,
  inUse: false,
  size,
  createdAt: new Date(now - 60_000),
  lastUsedAt: new Date(now - 60_000),
  usageCount: 1,
  parents: [],
  recordType: 'regular',
  shared: false,
  ...extra,
});

describe('du table', () => {
  it('a record that could not be sized reads unknown, not 0B', () => {
    const text = renderUsageTable([row('sized', 2048), row('unsized', 0, { sizeError: 'EIO reading a file' })], {
      now,
    });
    const lines = text.split('\n');
    // buildx's columns: the sized row shows its size, the other one no size at all.
    expect(lines.find((l) => l.startsWith('sized'))).toMatch(/\s2\.048kB\s/);
    const unsized = lines.find((l) => l.startsWith('unsized'));
    expect(unsized).toMatch(/\sunknown\s/);
    expect(unsized).not.toMatch(/\s0B\s/);
  });

  it('the verbose block says why', () => {
    expect(renderUsageBlock(row('unsized', 0, { sizeError: 'EIO reading a file' }), now)).toContain(
      'Size:         unknown (EIO reading a file)',
    );
  });
});
