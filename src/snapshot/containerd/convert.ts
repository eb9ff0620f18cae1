import { SnapshotError } from '../errors.js';
import type { Info, Mount } from '../types.js';
import { type ProtoInfo, type ProtoMount, timestampToDate } from './rpc.js';

/** containerd's snapshot kinds, as our Info names them. */
export const KINDS = { ACTIVE: 'active', VIEW: 'view', COMMITTED: 'committed' } as const;

export function toInfo(p: ProtoInfo): Info {
  const kind = KINDS[p.kind as keyof typeof KINDS];
  if (!kind) throw new SnapshotError('UNKNOWN', 'stat', p.name, `containerd reported kind ${p.kind}`);
  const info: Info = {
    kind,
    name: p.name,
    labels: { ...p.labels },
    created: timestampToDate(p.createdAt),
    updated: timestampToDate(p.updatedAt),
  };
  if (p.parent !== '') info.parent = p.parent;
  return info;
}

export function toMounts(ms: ProtoMount[]): Mount[] {
  return ms.map((m) => ({ type: m.type, source: m.source, options: [...m.options] }));
}
