import { readSync } from 'node:fs';

/**
 * A walk over every page an LMDB file's trees use, with plain reads, before lmdb-js maps the file.
 * mdb.c follows page numbers and node offsets without checking them, so one overwritten branch or
 * leaf page makes it read outside the mapping (SIGSEGV, SIGBUS) or fail an assertion; this walk
 * finds such a page first and names it, so the caller fails with a typed error instead.
 *
 * Layout, as lmdb-js 3's bundled mdb.c writes it (data format 2), little-endian:
 * - a page starts with a 24-byte header: page number u64, txnid u64, pad u16, flags u16, then
 *   lower u16 and upper u16 (an overflow page keeps its page count u32 there); lower, upper and
 *   node offsets count from the end of the header;
 * - a branch or leaf page holds lower / 2 node offsets u16 after the header, each pointing at or
 *   past upper;
 * - a node is lo u16, hi u16, flags u16, key size u16, then the key and (in a leaf) the data;
 *   a branch node's child page number is lo | hi << 16 | flags << 32, a leaf node's data size is
 *   lo | hi << 16;
 * - a leaf node flagged F_BIGDATA keeps its value on overflow pages (u64 page number as data);
 *   one flagged F_SUBDATA holds a named database's 48-byte descriptor, with its root at byte 40;
 *   one flagged F_DUPDATA holds a sub-page or sub-database of sorted duplicates.
 * What is checked: each page names its own number and a known kind, its bounds and node offsets
 * fit the page, children and overflow runs lie within the pages in use, and no page is reached
 * twice (a cycle would hang mdb.c). Values themselves are left to the schema checks.
 */

const HEADER = 24;
const NODE_HEADER = 8;
const P_BRANCH = 0x01;
const P_LEAF = 0x02;
const P_OVERFLOW = 0x04;
const P_LEAF2 = 0x20;
const F_BIGDATA = 0x01;
const F_SUBDATA = 0x02;
const F_DUPDATA = 0x04;
const DB_ROOT = 40;
const DB_SIZE = 48;
const NO_PAGE = 0xffff_ffff_ffff_ffffn;
/** B-trees this deep would hold more pages than any file has; deeper is a loop through garbage. */
const MAX_DEPTH = 64;

export interface PageWalkInput {
  fd: number;
  pageSize: number;
  lastPage: number;
  roots: bigint[];
}

/** Undefined when every reachable page is sound, else the first problem found. */
export function walkLmdbPages({ fd, pageSize, lastPage, roots }: PageWalkInput): string | undefined {
  const seen = new Set<number>();
  const page = Buffer.alloc(pageSize);
  const read = (pgno: number): void => {
    const n = readSync(fd, page, 0, pageSize, pgno * pageSize);
    if (n !== pageSize) throw new PageProblem(`page ${pgno} is cut short`);
  };
  const inRange = (pgno: bigint, what: string): number => {
    if (pgno < 2n || pgno > BigInt(lastPage))
      throw new PageProblem(`${what} points to page ${pgno}, outside pages 2..${lastPage}`);
    return Number(pgno);
  };

  const visitOverflow = (pgno: number, from: number): void => {
    read(pgno);
    checkSelf(page, pgno);
    const flags = page.readUInt16LE(18);
    if ((flags & P_OVERFLOW) === 0)
      throw new PageProblem(`page ${pgno}, a value of page ${from}, is not an overflow page`);
    const count = page.readUInt32LE(20);
    if (count < 1 || pgno + count - 1 > lastPage)
      throw new PageProblem(`overflow page ${pgno} claims ${count} pages, past the last page in use ${lastPage}`);
    for (let p = pgno; p < pgno + count; p++) claim(seen, p);
  };

  const visit = (pgno: number, depth: number, from: string): void => {
    if (depth > MAX_DEPTH) throw new PageProblem(`the tree under ${from} is deeper than ${MAX_DEPTH} levels`);
    claim(seen, pgno);
    read(pgno);
    checkSelf(page, pgno);
    const flags = page.readUInt16LE(18);
    if ((flags & (P_BRANCH | P_LEAF)) === 0 || (flags & P_BRANCH && flags & P_LEAF))
      throw new PageProblem(`page ${pgno} (reached from ${from}) has flags 0x${flags.toString(16)}, not a tree page`);
    // Bounds and node offsets count from the end of the header (this mdb.c's PAGEBASE).
    const lower = HEADER + page.readUInt16LE(20);
    const upper = HEADER + page.readUInt16LE(22);
    if (upper > pageSize || lower > upper || (lower - HEADER) % 2 !== 0)
      throw new PageProblem(`page ${pgno} has bounds ${lower}..${upper}, which do not fit a ${pageSize}-byte page`);
    // Fixed-size duplicate keys carry no node offsets: nothing further to follow.
    if (flags & P_LEAF2) return;
    const nodes = (lower - HEADER) / 2;
    const children: number[] = [];
    const overflows: number[] = [];
    const subRoots: bigint[] = [];
    for (let i = 0; i < nodes; i++) {
      const at = HEADER + page.readUInt16LE(HEADER + i * 2);
      if (at < upper || at + NODE_HEADER > pageSize)
        throw new PageProblem(`page ${pgno} node ${i} starts at ${at}, outside ${upper}..${pageSize}`);
      const lo = page.readUInt16LE(at);
      const hi = page.readUInt16LE(at + 2);
      const nodeFlags = page.readUInt16LE(at + 4);
      const keySize = page.readUInt16LE(at + 6);
      const keyEnd = at + NODE_HEADER + keySize;
      if (keyEnd > pageSize) throw new PageProblem(`page ${pgno} node ${i} has a key running past the page`);
      if (flags & P_BRANCH) {
        children.push(inRange(BigInt(lo) | (BigInt(hi) << 16n) | (BigInt(nodeFlags) << 32n), `page ${pgno}`));
        continue;
      }
      const dataSize = lo | (hi << 16);
      if (nodeFlags & F_BIGDATA) {
        if (keyEnd + 8 > pageSize) throw new PageProblem(`page ${pgno} node ${i} is cut short`);
        overflows.push(inRange(page.readBigUInt64LE(keyEnd), `page ${pgno} node ${i}`));
        continue;
      }
      if (keyEnd + dataSize > pageSize)
        throw new PageProblem(`page ${pgno} node ${i} has ${dataSize} bytes of data running past the page`);
      // A database of sorted duplicates inline in the node (a sub-page) has no pages of its own to follow.
      if (nodeFlags & F_SUBDATA) {
        if (dataSize < DB_SIZE) throw new PageProblem(`page ${pgno} node ${i} holds a database descriptor cut short`);
        subRoots.push(page.readBigUInt64LE(keyEnd + DB_ROOT));
      } else if (nodeFlags & ~(F_BIGDATA | F_SUBDATA | F_DUPDATA) & 0xff)
        throw new PageProblem(`page ${pgno} node ${i} has unknown flags 0x${nodeFlags.toString(16)}`);
    }
    // Read what this page names before moving on: the shared buffer is reused by every visit.
    for (const child of children) visit(child, depth + 1, `page ${pgno}`);
    for (const ov of overflows) visitOverflow(ov, pgno);
    for (const root of subRoots)
      if (root !== NO_PAGE) visit(inRange(root, `a database named on page ${pgno}`), 0, `page ${pgno}`);
  };

  try {
    for (const [i, root] of roots.entries())
      if (root !== NO_PAGE) visit(inRange(root, 'the meta page'), 0, i === 0 ? 'the free-page tree' : 'the main tree');
    return undefined;
  } catch (err) {
    if (err instanceof PageProblem) return err.message;
    throw err;
  }
}

class PageProblem extends Error {}

function checkSelf(page: Buffer, pgno: number): void {
  const named = page.readBigUInt64LE(0);
  if (named !== BigInt(pgno)) throw new PageProblem(`page ${pgno} names itself page ${named}: overwritten?`);
}

function claim(seen: Set<number>, pgno: number): void {
  if (seen.has(pgno)) throw new PageProblem(`page ${pgno} is reached twice: the tree loops`);
  seen.add(pgno);
}
