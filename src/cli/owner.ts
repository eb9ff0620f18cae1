import { describeOwner, lockHolder } from '../cache/owner-lock.js';

/** The owner as `inspect --format json` shows it: `alive` means it holds the root's lock right now. */
export interface OwnerSummary {
  readonly pid: number | null;
  readonly alive: boolean;
}

/** Who owns a cache root, for `inspect`: a summary for JSON (null when nobody) and a line of text. */
export interface OwnerView {
  readonly summary: OwnerSummary | null;
  readonly text: string;
}

/** Asks the owner lock itself (never a pid check); a bad LOCK throws its LockFileError. */
export function ownerOf(root: string): OwnerView {
  const holder = lockHolder(root);
  if (holder === undefined || (!holder.held && holder.owner === undefined)) return { summary: null, text: 'none' };
  const summary = { pid: holder.owner?.pid ?? null, alive: holder.held };
  if (holder.held) return { summary, text: describeOwner(holder.owner) };
  return { summary, text: `none (${describeOwner(holder.owner)} is gone and left its LOCK behind)` };
}
