import { describe } from 'vitest';
import { describeFilesystem } from './conformance-fs.js';
import { describeRules } from './conformance-rules.js';
import type { SnapshotterFactory } from './helpers.js';
import type { SnapshotterQuirks } from './conformance-quirks.js';

export type { SnapshotterFactory } from './helpers.js';
export type { SnapshotterQuirks } from './conformance-quirks.js';

/**
 * Registers the whole snapshotter conformance suite for one implementation. `quirks` names the
 * documented differences of a snapshotter we do not own (containerd's); our own have none.
 */
export function snapshotterConformance(
  name: string,
  factory: SnapshotterFactory,
  quirks: SnapshotterQuirks = {},
): void {
  describe(`${name} conformance`, () => {
    describe('rules', () => describeRules(factory, quirks));
    describe('filesystem', () => describeFilesystem(factory, quirks));
  });
}
