/**
 * Documented ways a snapshotter we do not own may differ from the suite's reference behaviour.
 * All are off by default; each one relaxes only the assertion it names.
 */
export interface SnapshotterQuirks {
  /**
   * Copy-up gives the copied name of a hardlinked lower file a new inode, splitting the group.
   * containerd's overlayfs snapshotter mounts with `index=off` (the kernel needs the index to keep
   * the group), so the reference directory models that split.
   */
  copyUpBreaksHardlinks?: boolean;
  /** Copying a parent fills the holes of sparse files (containerd's native snapshotter copies without them). */
  copyFillsHoles?: boolean;
  /** Leftover directories are never deleted (containerd's native snapshotter has no cleanup). */
  keepsLeftovers?: boolean;
}
