import { z } from 'zod';
import { PolicyError } from './errors.js';

const byteCount = z.int().nonnegative();

/**
 * One prune or GC policy, BuildKit's `client.PruneInfo` with plain numbers: durations in milliseconds, sizes in bytes.
 * A zero or absent limit means "no limit", as in BuildKit.
 */
export const PruneInfoSchema = z.strictObject({
  /** Also consider internal, frontend and externally shared records. */
  all: z.boolean().optional(),
  /** containerd-style filters; the policy selects records matching any one of them. */
  filter: z.array(z.string().min(1)).optional(),
  /** Records used within this many milliseconds are kept. */
  keepDuration: byteCount.optional(),
  /** Never prune the unshared cache below this many bytes. */
  reservedSpace: byteCount.optional(),
  /** Prune until the unshared cache is below this many bytes. */
  maxUsedSpace: byteCount.optional(),
  /** Prune until the filesystem has this many bytes free. */
  minFreeSpace: byteCount.optional(),
  /** Report what would be removed without removing it. */
  dryRun: z.boolean().optional(),
});

export type PruneInfo = z.infer<typeof PruneInfoSchema>;

function describeIssue(issue: z.core.$ZodIssue): string {
  const where = issue.path.length === 0 ? 'policy' : issue.path.map(String).join('.');
  if (issue.code === 'unrecognized_keys') {
    return `${issue.keys.map((k) => JSON.stringify(k)).join(', ')}: unknown field${issue.keys.length > 1 ? 's' : ''}`;
  }
  if (issue.code === 'too_small' && issue.origin === 'number') return `${where}: must not be negative`;
  if (issue.code === 'invalid_type' && issue.expected === 'int')
    return `${where}: must be a whole number of ${unitOf(issue.path)}`;
  if (issue.code === 'too_small' && issue.origin === 'string') return `${where}: must not be empty`;
  return `${where}: ${issue.message}`;
}

function unitOf(path: readonly PropertyKey[]): string {
  return path[0] === 'keepDuration' ? 'milliseconds (finite, safe integer)' : 'bytes (finite, safe integer)';
}

/** Validates an untrusted policy; throws one PolicyError listing every problem. */
export function parsePruneInfo(input: unknown): PruneInfo {
  const result = PruneInfoSchema.safeParse(input);
  if (result.success) return result.data;
  throw new PolicyError('prune policy', result.error.issues.map(describeIssue), { cause: result.error });
}
