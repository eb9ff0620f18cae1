import { readFileSync, readlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import { z } from 'zod';

/**
 * What an owner writes into LOCK about itself. It is only ever used to word messages: who owns a
 * root is decided by the kernel lock alone. A pid alone means little when the owner may sit in
 * another pid namespace (two containers sharing a volume are both pid 1), so the namespace, the
 * host and its boot are written too.
 */
export interface OwnerRecord {
  readonly pid: number;
  readonly host?: string;
  /** `/proc/self/ns/pid` of the owner, e.g. `pid:[4026531836]`. */
  readonly pidNamespace?: string;
  readonly bootId?: string;
  readonly startedAt?: string;
}

const OwnerRecordSchema = z.object({
  pid: z.number().int().positive(),
  host: z.string().max(255).optional(),
  pidNamespace: z.string().max(64).optional(),
  bootId: z.string().max(64).optional(),
  startedAt: z.string().max(64).optional(),
});

function tryRead(read: () => string): string | undefined {
  try {
    return read().trim() || undefined;
  } catch {
    return undefined;
  }
}

let self: OwnerRecord | undefined;

/** This process, as it describes itself in a LOCK it owns. */
export function thisProcess(): OwnerRecord {
  self ??= {
    pid: process.pid,
    host: hostname(),
    ...optional(
      'pidNamespace',
      tryRead(() => readlinkSync('/proc/self/ns/pid')),
    ),
    ...optional(
      'bootId',
      tryRead(() => readFileSync('/proc/sys/kernel/random/boot_id', 'utf8')),
    ),
    startedAt: new Date(Date.now() - process.uptime() * 1000).toISOString(),
  };
  return self;
}

function optional<K extends string>(key: K, value: string | undefined): { [P in K]?: string } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: string };
}

export function formatOwnerRecord(record: OwnerRecord): string {
  return `${JSON.stringify(record)}\n`;
}

/** Reads what a LOCK says of its owner: our JSON line, or the bare pid that older versions wrote. */
export function parseOwnerRecord(text: string): OwnerRecord | undefined {
  const trimmed = text.trim();
  if (/^[1-9][0-9]{0,9}$/.test(trimmed)) return { pid: Number(trimmed) };
  try {
    const parsed = OwnerRecordSchema.safeParse(JSON.parse(trimmed));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** "process 1 on host ci-7 in another pid namespace (pid:[4026532201]), started …", for messages. */
export function describeOwner(record: OwnerRecord | undefined): string {
  if (record === undefined) return 'a process whose LOCK does not say who it is (yet)';
  const me = thisProcess();
  const parts = [`process ${record.pid}`];
  if (record.host !== undefined) parts.push(`on host ${JSON.stringify(record.host.slice(0, 64))}`);
  if (record.pidNamespace !== undefined && record.pidNamespace !== me.pidNamespace)
    parts.push(`in another pid namespace (${JSON.stringify(record.pidNamespace)})`);
  const who = parts.join(' ');
  return record.startedAt === undefined ? who : `${who}, started ${JSON.stringify(record.startedAt)}`;
}
