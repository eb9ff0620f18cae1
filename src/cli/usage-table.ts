import type { UsageInfo } from '../cache/usage.js';
import { CELL_MAX, terminalText } from './escape.js';
import { formatAge, formatSize } from '../units/index.js';

/** A table like `docker buildx du`: id, reclaimable, size, last used; then totals. */
export function renderUsageTable(rows: readonly UsageInfo[], now = Date.now()): string {
  const sorted = [...rows].sort((a, b) => b.size - a.size);
  const lines = [['ID', 'RECLAIMABLE', 'SIZE', 'LAST ACCESSED']];
  for (const u of sorted)
    lines.push([
      terminalText(u.id, { max: CELL_MAX }) + (u.mutable ? '*' : ''),
      String(!u.inUse),
      formatSize(u.size),
      u.lastUsedAt ? `${formatAge(now - u.lastUsedAt.getTime())} ago` : '',
    ]);
  const widths = lines[0]!.map((_, col) => Math.max(...lines.map((l) => l[col]!.length)));
  const table = lines.map((l) =>
    l
      .map((cell, col) => cell.padEnd(widths[col]!))
      .join('  ')
      .trimEnd(),
  );
  const total = rows.reduce((n, u) => n + u.size, 0);
  const reclaimable = rows.filter((u) => !u.inUse).reduce((n, u) => n + u.size, 0);
  return [
    ...table,
    `Shared:\t\t0B`,
    `Private:\t${formatSize(total)}`,
    `Reclaimable:\t${formatSize(reclaimable)}`,
    `Total:\t\t${formatSize(total)}`,
  ].join('\n');
}

/** `--verbose`: one block per record with every field, values whole but escaped. */
export function renderUsageVerbose(rows: readonly UsageInfo[]): string {
  const t = (text: string) => terminalText(text);
  return rows
    .map((u) =>
      [
        `ID:\t\t${t(u.id)}`,
        ...(u.parents.length ? [`Parent:\t\t${u.parents.map(t).join(', ')}`] : []),
        `Created at:\t${u.createdAt.toISOString()}`,
        `Mutable:\t${u.mutable}`,
        `Reclaimable:\t${!u.inUse}`,
        `Shared:\t\t${u.shared}`,
        `Size:\t\t${formatSize(u.size)}`,
        ...(u.description ? [`Description:\t${t(u.description)}`] : []),
        `Usage count:\t${u.usageCount}`,
        ...(u.lastUsedAt ? [`Last used:\t${u.lastUsedAt.toISOString()}`] : []),
        `Type:\t\t${t(u.recordType)}`,
      ].join('\n'),
    )
    .join('\n\n');
}
