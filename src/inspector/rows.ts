import type { RecordView } from '../cache/observe.js';

/**
 * One table row as the page receives it. A tuple, not an object: a 100k-record
 * snapshot is sent as JSON, and repeating six keys per row would double it.
 */
export type RecordRow = [
  id: string,
  state: string,
  refs: number,
  size: number | null,
  lastUsedAt: number | null,
  description: string,
];

export function toRow(view: RecordView): RecordRow {
  return [
    view.id,
    view.state,
    view.refs,
    view.size ?? null,
    view.metadata.lastUsedAt?.getTime() ?? null,
    view.metadata.description ?? '',
  ];
}
