/**
 * A cache owner in a child process, for the kit's crash command: it opens the root the run handed
 * over, makes the calls the parent sends it over the IPC channel one at a time, answers each, and
 * waits to be killed with SIGKILL. It never exits by itself while the channel is open.
 *
 *   fork(crash-child.js, [ROOT, native|overlay])
 */
import { join } from 'node:path';
import { isCacheError } from '../cache/errors.js';
import { CacheManager } from '../cache/manager.js';
import { openSnapshotter } from '../cache/open-snapshotter.js';
import type { ImmutableRef, MutableRef } from '../cache/refs.js';
import type { ChildReply, ChildRequest } from './crash-protocol.js';

const [root, kind] = process.argv.slice(2);
if (!root || (kind !== 'native' && kind !== 'overlay') || !process.send)
  throw new Error('usage: fork(crash-child.js, [ROOT, native|overlay]) with an IPC channel');
const send = process.send.bind(process);

// The same snapshotter the run's manager had: the root was created with it as a custom one.
const snapshotter = await openSnapshotter({ kind }, join(root, 'snapshots'));
const cm = await CacheManager.open({ root, snapshotter });
const refs = new Map<number, MutableRef | ImmutableRef>();

async function call(req: ChildRequest): Promise<{ id?: string }> {
  const ref = req.ref === undefined ? undefined : refs.get(req.ref);
  if (req.ref !== undefined && !ref) throw new Error(`crash child: no ref ${req.ref}`);
  const keep = (made: MutableRef | ImmutableRef) => {
    refs.set(req.n, made);
    return { id: made.id };
  };
  switch (req.call) {
    case 'new': {
      const parent = req.parent === undefined ? null : (refs.get(req.parent) as ImmutableRef);
      return keep(await cm.new(parent, { retain: req.retain }));
    }
    case 'commit':
      return keep(await (ref as MutableRef).commit());
    case 'finalize':
      await (ref as ImmutableRef).finalize();
      return {};
    case 'release':
      await ref!.release();
      return {};
    case 'clone':
      return keep((ref as ImmutableRef).clone());
    case 'get':
      return keep(await cm.get(req.id!));
    case 'getMutable':
      return keep(await cm.getMutable(req.id!));
    case 'remove':
      await cm.remove(req.id!, 'model run');
      return {};
  }
}

process.on('message', (req: ChildRequest) => {
  call(req).then(
    (value): void => void send({ n: req.n, ok: true, ...value } satisfies ChildReply),
    (error: unknown): void =>
      void send({
        n: req.n,
        ok: false,
        ...(isCacheError(error) ? { code: error.code } : {}),
        message: error instanceof Error ? error.message : String(error),
      } satisfies ChildReply),
  );
});
// A parent that went away will never kill it: the child goes too, rather than hold the root forever.
process.on('disconnect', () => process.exit(1));
send({ n: 0, ok: true, ready: true } satisfies ChildReply);
