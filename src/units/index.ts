// Sizes and durations as people write them: parsing and formatting, with no dependency on the rest of cachekit.
export { UnitParseError } from './errors.js';
export {
  parseSize,
  parseBytes,
  resolveSize,
  formatSize,
  isDiskPercent,
  type DiskPercent,
  type ParseSizeOptions,
  type FormatSizeOptions,
} from './sizes.js';
export {
  parseDuration,
  formatDuration,
  formatAge,
  type ParseDurationOptions,
  type FormatAgeOptions,
} from './durations.js';
