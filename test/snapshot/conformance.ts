import { describe } from 'vitest';
import { describeFilesystem } from './conformance-fs.js';
import { describeRules } from './conformance-rules.js';
import type { SnapshotterFactory } from './helpers.js';

export type { SnapshotterFactory } from './helpers.js';

/** Registers the whole snapshotter conformance suite for one implementation. */
export function snapshotterConformance(name: string, factory: SnapshotterFactory): void {
  describe(`${name} conformance`, () => {
    describe('rules', () => describeRules(factory));
    describe('filesystem', () => describeFilesystem(factory));
  });
}
