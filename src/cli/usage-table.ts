import type { UsageInfo } from '../cache/usage.js';
import { CELL_MAX, terminalText } from './escape.js';
import { formatAge, formatSize } from '../units/index.js';

/** Sizes and ages as buildx prints them (go-units HumanSize and HumanDuration). */
const size = (bytes: number) => formatSize(bytes, { docker: true });
const ago = (u: UsageInfo, now: number) =>
  u.lastUsedAt ? `${formatAge(now - u.lastUsedAt.getTime(), { docker: true })} ago` : '';

/** Columns of `docker buildx du`: a `*` marks a mutable id and a shared size. */
export const TABLE_HEADER = ['ID', 'RECLAIMABLE', 'SIZE', 'LAST ACCESSED'] as const;

export function tableRow(u: UsageInfo, now: number): string[] {
  return [
    terminalText(u.id, { max: CELL_MAX }) + (u.mutable ? '*' : ''),
    String(!u.inUse),
    sizeCell(u) + (u.shared ? '*' : ''),
    ago(u, now),
  ];
}

/** A record that could not be sized says so: its 0 is not a size, and must not read as an empty layer. */
const sizeCell = (u: UsageInfo) => (u.sizeError === undefined ? size(u.size) : 'unknown');

/** Cells padded to their column's widest, two spaces apart. */
export function alignRows(lines: readonly (readonly string[])[]): string[] {
  const widths = lines[0]!.map((_, col) => Math.max(...lines.map((l) => l[col]!.length)));
  return lines.map((l) =>
    l
      .map((cell, col) => cell.padEnd(widths[col]!))
      .join('  ')
      .trimEnd(),
  );
}

/** buildx's totals: Shared and Private only when something is shared. */
export function usageSummary(rows: readonly UsageInfo[]): string[] {
  const total = rows.reduce((n, u) => n + Math.max(0, u.size), 0);
  const reclaimable = rows.filter((u) => !u.inUse).reduce((n, u) => n + Math.max(0, u.size), 0);
  const shared = rows.filter((u) => u.shared).reduce((n, u) => n + u.size, 0);
  return [
    ...(shared > 0 ? [`Shared:\t\t${size(shared)}`, `Private:\t${size(total - shared)}`] : []),
    `Reclaimable:\t${size(reclaimable)}`,
    `Total:\t\t${size(total)}`,
  ];
}

/**
 * A table like `docker buildx du`: id, reclaimable, size, last used, largest first; then the totals, which buildx
 * leaves out when filters are given.
 */
export function renderUsageTable(
  rows: readonly UsageInfo[],
  options: { now?: number; summary?: boolean } = {},
): string {
  const now = options.now ?? Date.now();
  const sorted = [...rows].sort((a, b) => b.size - a.size);
  const table = alignRows([TABLE_HEADER, ...sorted.map((u) => tableRow(u, now))]);
  return [...table, ...(options.summary === false ? [] : usageSummary(rows))].join('\n');
}

/** One record as buildx's `du --verbose` (`--format pretty`) shows it; values whole but escaped. */
export function renderUsageBlock(u: UsageInfo, now = Date.now()): string {
  const t = (text: string) => terminalText(text);
  return [
    `ID:           ${t(u.id)}`,
    ...(u.parents.length ? ['Parents:', ...u.parents.map((p) => ` - ${t(p)}`)] : []),
    `Created at:   ${u.createdAt.toISOString()}`,
    `Mutable:      ${u.mutable}`,
    `Reclaimable:  ${!u.inUse}`,
    `Shared:       ${u.shared}`,
    `Size:         ${u.sizeError === undefined ? size(u.size) : `unknown (${t(u.sizeError)})`}`,
    ...(u.description ? [`Description:  ${t(u.description)}`] : []),
    ...(u.key ? [`Key:          ${t(u.key)}`] : []),
    ...(u.remoteSize !== undefined ? [`Remote size:  ${size(u.remoteSize)} (lazy: not pulled)`] : []),
    `Usage count:  ${u.usageCount}`,
    ...(u.lastUsedAt ? [`Last used:    ${ago(u, now)}`] : []),
    ...(u.recordType ? [`Type:         ${t(u.recordType)}`] : []),
  ].join('\n');
}

/** `--verbose`: one block per record, a blank line between, then the totals as buildx prints them. */
export function renderUsageVerbose(rows: readonly UsageInfo[], options: { now?: number; summary?: boolean } = {}) {
  const now = options.now ?? Date.now();
  const blocks = rows.map((u) => `${renderUsageBlock(u, now)}\n`);
  return [...blocks, ...(options.summary === false ? [] : usageSummary(rows))].join('\n');
}
