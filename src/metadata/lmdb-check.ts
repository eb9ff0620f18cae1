import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { walkLmdbPages } from './lmdb-pages.js';

/**
 * A look at an LMDB data file before lmdb-js maps it. LMDB trusts its file:
 * a truncated file or a garbage meta page makes the native code read past the
 * mapping (SIGBUS/SIGSEGV) or fail an assertion, which no JavaScript can catch.
 * So the parts LMDB reads first are checked here, with plain reads.
 *
 * Layout, as lmdb-js 3 writes it (its bundled mdb.c, data format 2), all
 * little-endian on the machines we run on:
 * - pages 0 and 1 are meta pages; each starts with a 24-byte page header
 *   (page number u64, txnid u64, pad u16, flags u16 with P_META 0x08, bounds u32);
 * - the meta follows the header: magic u32 (0xBEEFC0DE), version u32 (low 16 bits 2),
 *   fixed address u64, map size u64, then two 48-byte database descriptors
 *   (free pages, main); the page size is stored in the first one's pad field;
 * - after them: last used page number u64, then the txnid that wrote this meta u64.
 * LMDB uses the meta with the higher txnid.
 */

const PAGE_HEADER = 24;
const P_META = 0x08;
const LMDB_MAGIC = 0xbeefc0de;
const DATA_VERSION = 2;
/** Offsets from the start of the meta page. */
const AT = {
  flags: 18,
  magic: PAGE_HEADER,
  version: PAGE_HEADER + 4,
  pageSize: PAGE_HEADER + 24,
  freeRoot: PAGE_HEADER + 24 + 40,
  mainRoot: PAGE_HEADER + 24 + 48 + 40,
  lastPage: PAGE_HEADER + 24 + 96,
  txnid: PAGE_HEADER + 24 + 104,
} as const;
const META_BYTES = AT.txnid + 8;
/** The root page number of an empty tree. */
const NO_PAGE = 0xffff_ffff_ffff_ffffn;

/** What the header check learned from a sound file. */
export interface LmdbFileFacts {
  pageSize: number;
  pages: number;
  /** Last page in use per the meta LMDB will pick, or the last page of the file when that is shorter (free pages at the end need not be written). */
  lastPage: number;
  txnid: bigint;
}

/** The outcome of `checkLmdbFile`: facts of a sound header, or the reason it is not. */
export type LmdbCheck = { ok: true; facts: LmdbFileFacts } | { ok: false; reason: string };

interface Meta {
  pageSize: number;
  lastPage: bigint;
  txnid: bigint;
  roots: bigint[];
}

function readMeta(buf: Buffer, which: number): Meta | string {
  const name = `meta page ${which}`;
  if (buf.length < META_BYTES) return `${name} is cut short`;
  if ((buf.readUInt16LE(AT.flags) & P_META) === 0) return `${name} is not marked as a meta page`;
  const magic = buf.readUInt32LE(AT.magic);
  if (magic !== LMDB_MAGIC) return `${name} has magic 0x${magic.toString(16)}, not LMDB's 0xbeefc0de`;
  const version = buf.readUInt32LE(AT.version) & 0xffff;
  if (version !== DATA_VERSION) return `${name} has data format version ${version}; this LMDB reads ${DATA_VERSION}`;
  const pageSize = buf.readUInt32LE(AT.pageSize);
  if (pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0)
    return `${name} gives page size ${pageSize}, not a power of two from 512 to 65536`;
  return {
    pageSize,
    lastPage: buf.readBigUInt64LE(AT.lastPage),
    txnid: buf.readBigUInt64LE(AT.txnid),
    roots: [buf.readBigUInt64LE(AT.freeRoot), buf.readBigUInt64LE(AT.mainRoot)],
  };
}

function readAt(fd: number, offset: number, length: number): Buffer {
  const buf = Buffer.alloc(length);
  const n = readSync(fd, buf, 0, length, offset);
  return buf.subarray(0, n);
}

/**
 * Checks an LMDB data file's size, meta pages and every page its trees use. `{ ok: true }` for a file
 * that does not exist (LMDB creates it). Never throws for a bad file, only
 * for a file it cannot read at all (such as EACCES), which callers report.
 */
export function checkLmdbFile(path: string): LmdbCheck {
  let fd: number;
  try {
    // O_NOFOLLOW: the data file is ours; a symlink in its place is not followed.
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { ok: true, facts: EMPTY };
    if (code === 'ELOOP') return { ok: false, reason: 'it is a symbolic link' };
    throw err;
  }
  try {
    // A read-only open may look while the owner commits: LMDB then reuses pages of the tree being read
    // (and grows the file), which a commit announces by a new txnid. Only a problem seen while the txnid
    // stood still is damage; a file a live writer keeps committing to is in use, not damaged.
    let seen = checkHeader(fd);
    for (let attempt = 0; attempt < STILL_ATTEMPTS; attempt++) {
      const problem = seen.ok ? walkLmdbPages({ fd, ...seen.facts, roots: seen.roots }) : seen.reason;
      if (problem === undefined) return { ok: true, facts: seen.ok ? seen.facts : EMPTY };
      const again = checkHeader(fd);
      const moved = again.ok && (!seen.ok || again.facts.txnid !== seen.facts.txnid);
      if (!moved) return { ok: false, reason: problem };
      seen = again;
    }
    return { ok: true, facts: seen.ok ? seen.facts : EMPTY };
  } finally {
    closeSync(fd);
  }
}

/** Facts of a file LMDB has yet to initialise (absent or empty). */
const EMPTY: LmdbFileFacts = { pageSize: 0, pages: 0, lastPage: 0, txnid: 0n };
/** Looks at a file that changes under the walk before calling it busy rather than damaged. */
const STILL_ATTEMPTS = 5;

type Header = { ok: true; facts: LmdbFileFacts; roots: bigint[] } | { ok: false; reason: string };

/** The file's size and meta pages; `roots` empty for a file LMDB has yet to initialise. */
function checkHeader(fd: number): Header {
  const st = fstatSync(fd);
  if (!st.isFile()) return { ok: false, reason: 'it is not a regular file' };
  const size = st.size;
  // An empty file is what a crash during creation leaves; LMDB initialises it afresh.
  if (size === 0) return { ok: true, facts: EMPTY, roots: [] };
  const first = readMeta(readAt(fd, 0, META_BYTES), 0);
  if (typeof first === 'string') return { ok: false, reason: `${first} (file is ${size} bytes)` };
  const { pageSize } = first;
  if (size % pageSize !== 0)
    return { ok: false, reason: `its size ${size} is not a multiple of its page size ${pageSize}` };
  const pages = size / pageSize;
  if (pages < 2) return { ok: false, reason: `it has ${pages} page; LMDB needs at least two meta pages` };
  const second = readMeta(readAt(fd, pageSize, META_BYTES), 1);
  if (typeof second === 'string') return { ok: false, reason: second };
  if (second.pageSize !== pageSize)
    return { ok: false, reason: `the meta pages disagree on the page size (${pageSize} and ${second.pageSize})` };
  const meta = second.txnid > first.txnid ? second : first;
  const which = meta === first ? 0 : 1;
  if (meta.lastPage < 1n)
    return { ok: false, reason: `meta page ${which} says page ${meta.lastPage} is the last in use` };
  // The file may end before the last page in use: LMDB never writes a page that the transaction which
  // took it freed again (a loose page), so trailing pages can be free and absent. What must be in the
  // file is every page a tree reaches, which the roots here and the page walk check against this bound.
  const lastInFile = meta.lastPage < BigInt(pages) ? meta.lastPage : BigInt(pages - 1);
  for (const root of meta.roots)
    if (root !== NO_PAGE && (root < 2n || root > lastInFile))
      return {
        ok: false,
        reason:
          `meta page ${which} points to root page ${root}, outside pages 2..${lastInFile}` +
          (lastInFile < meta.lastPage ? ` (the file has ${pages} pages: truncated?)` : ''),
      };
  return {
    ok: true,
    facts: { pageSize, pages, lastPage: Number(lastInFile), txnid: meta.txnid },
    roots: meta.roots,
  };
}
