import { NativeSnapshotter } from '../../src/snapshot/native.js';
import { snapshotterConformance } from './conformance.js';

snapshotterConformance('NativeSnapshotter', (root) => NativeSnapshotter.open(root));
