export { type LayerChange, OPAQUE_WHITEOUT, WHITEOUT_PREFIX } from './changes.js';
export { diffTrees } from './diff-native.js';
export { diffOverlayUpper, OVERLAY_OPAQUE_XATTR } from './diff-overlay.js';
export { writeLayer, type LayerInfo, type WriteLayerOptions } from './write-layer.js';
export { applyLayer, type ApplyLayerOptions, type AppliedLayer } from './apply-layer.js';
export {
  type Compression,
  LAYER_MEDIA_TYPES,
  compressionOf,
  compressor,
  decompressor,
  DigestCounter,
} from './compression.js';
export { LayerError, isLayerError, type LayerErrorCode } from './errors.js';
