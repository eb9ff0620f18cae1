/**
 * Worker-thread entry: runs one walk per message, synchronously, and answers
 * with the usage, a walk failure, or an acknowledgement that it stopped.
 * Kept free of heavy imports so workers start quickly.
 */
import { parentPort } from 'node:worker_threads';
import { ControlBlock } from './control-block.js';
import { toWalkFailure } from './errors.js';
import type { WalkReply, WalkRequest, WalkResult } from './walk-protocol.js';
import { walkTreeSync } from './walk-sync.js';

const port = parentPort;
if (port === null) throw new Error('walk-worker.ts must run inside a worker thread');

port.on('message', (request: WalkRequest) => {
  let reply: WalkReply;
  try {
    const outcome = walkTreeSync(request.paths, new ControlBlock(request.control), request.options);
    if (outcome.aborted) reply = { id: request.id, kind: 'aborted' };
    else {
      const { size, inodes, subdirs, links } = outcome;
      const result: WalkResult = { usage: { size, inodes } };
      if (subdirs !== undefined) result.subdirs = subdirs;
      if (links !== undefined) result.links = links;
      reply = { id: request.id, kind: 'done', result };
    }
  } catch (error) {
    reply = { id: request.id, kind: 'failed', failure: toWalkFailure(error) };
  }
  port.postMessage(reply);
});
port.postMessage({ id: 0, kind: 'ready' } satisfies WalkReply);
