import { type Command, Option } from 'commander';
import { parseDuration, parseSize, UnitParseError, type DiskPercent } from '../units/index.js';

/**
 * `--format` of `du` and `prune`, as buildx's du reads it: `table` (the default), `pretty` (one block per record,
 * what `--verbose` prints) or `json`. No default here, so a `--format` given beside `--verbose` can be refused as
 * buildx refuses it. buildx's Go templates (`--format '{{.ID}}'`) are not supported.
 */
export const reportFormatOption = () =>
  new Option('--format <format>', 'table (default), pretty (as --verbose) or json; no Go templates').choices([
    'table',
    'pretty',
    'json',
  ]);

/** `--format` of `inspect` and `watch` (no buildx equivalent): the human form or json. */
export const formatOption = (human: 'text') =>
  new Option('--format <format>', `${human} or json`).choices([human, 'json']).default(human);

/** `-v, --verbose`: buildx spells it `--verbose` only. */
export const verboseOption = () =>
  new Option('-v, --verbose', 'one block per record with every field (as --format pretty)');

/** `--root`: the cache root every command works on. */
export const rootOption = () =>
  new Option('--root <dir>', 'cache root (must exist; see --create)').default('./.cachekit');

/** `--create` of prune and serve: make the root when it does not exist yet, instead of refusing. */
export const createOption = () =>
  new Option('--create', 'create the root if it is missing (without it, a missing or non-cachekit root is an error)');

/** `--filter`, repeatable; every one must match (AND), as in buildx. */
export const filterOption = () =>
  new Option(
    '--filter <filter>',
    'key=value (buildx) or containerd syntax (key==v, key!=v, key~=regex, key); repeatable, all must match',
  ).argParser((value: string, previous: string[] | undefined) => [...(previous ?? []), value]);

/** The chosen report form of du and prune; `--verbose` and `--format` together are refused, as buildx does. */
export function reportFormat(flags: { format?: string; verbose?: boolean }): 'table' | 'pretty' | 'json' {
  if (flags.format !== undefined && flags.verbose === true)
    throw new Error('--format and --verbose cannot be used together');
  if (flags.verbose === true) return 'pretty';
  return (flags.format ?? 'table') as 'table' | 'pretty' | 'json';
}

/** A flag's error: the flag first, then the unit parser's reason with the value quoted. */
function flagError(flag: string, err: unknown): never {
  if (err instanceof UnitParseError) throw new Error(`${flag}: ${err.message}`, { cause: err });
  throw err;
}

/** A size flag, read as docker reads it (RAMInBytes: 10GB = 10 GiB), or `N%` of the disk holding the root. */
export function sizeFlag(flag: string, text: string): number | DiskPercent {
  try {
    return parseSize(text, { docker: true });
  } catch (err) {
    return flagError(flag, err);
  }
}

/** A duration flag: a unit is required (`24h`, `90m`, `1h30m`), as Go's time.ParseDuration requires it. */
export function durationFlag(flag: string, text: string): number {
  try {
    return parseDuration(text, { requireUnit: true });
  } catch (err) {
    return flagError(flag, err);
  }
}

/** The flags that choose a snapshotter for a new root; an existing root remembers its own. */
export interface SnapshotterFlags {
  snapshotter?: string;
  containerdAddress?: string;
  containerdNamespace?: string;
  containerdSnapshotter?: string;
}

/** `--snapshotter` and the containerd flags, for the commands that may create a root (demo, prune, serve). */
export const snapshotterOptions = (): Option[] => [
  new Option('--snapshotter <kind>', 'for a new root: native (default), overlay (root) or containerd').choices([
    'native',
    'overlay',
    'containerd',
  ]),
  new Option('--containerd-address <path>', "containerd's gRPC socket (with --snapshotter containerd)"),
  new Option('--containerd-namespace <ns>', 'containerd namespace for the cache').default('cachekit'),
  new Option('--containerd-snapshotter <name>', "containerd's snapshotter plugin").default('overlayfs'),
];

/** Adds the snapshotter flags to a command (commander has no addOptions). */
export function withSnapshotterOptions<C extends Command>(command: C): C {
  for (const option of snapshotterOptions()) command.addOption(option);
  return command;
}

/** The `snapshotter` option of openCacheManager the flags ask for; none keeps what the root remembers. */
export function snapshotterFrom(
  flags: SnapshotterFlags,
): 'native' | 'overlay' | { containerd: { address: string; namespace: string; snapshotter: string } } | undefined {
  if (flags.snapshotter === undefined) return undefined;
  if (flags.snapshotter !== 'containerd') return flags.snapshotter as 'native' | 'overlay';
  if (!flags.containerdAddress) throw new Error('--snapshotter containerd needs --containerd-address');
  return {
    containerd: {
      address: flags.containerdAddress,
      namespace: flags.containerdNamespace ?? 'cachekit',
      snapshotter: flags.containerdSnapshotter ?? 'overlayfs',
    },
  };
}
