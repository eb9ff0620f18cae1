import type { RecordSummary } from '../../src/cache/policy/index.js';

export const NOW = Date.UTC(2026, 0, 31);
export const HOUR = 3600_000;
export const DAY = 24 * HOUR;

/** A record summary with quiet defaults: created 100 days ago, never used, unreferenced, regular. */
export function rec(id: string, fields: Partial<RecordSummary> = {}): RecordSummary {
  return { id, size: 1000, createdAt: NOW - 100 * DAY, usageCount: 0, shared: false, inUse: false, ...fields };
}

/** A record last used `daysAgo` days before NOW. */
export function used(id: string, daysAgo: number, usageCount = 1, fields: Partial<RecordSummary> = {}): RecordSummary {
  return rec(id, { lastUsedAt: NOW - daysAgo * DAY, usageCount, ...fields });
}
