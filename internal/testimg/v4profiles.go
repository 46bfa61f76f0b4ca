package testimg

// V4Profiles are the v4 (non-CRC) images: built without a kernel mount
// (the kernel here has no v4 support), judged by xfs_db and xfs_repair.
func V4Profiles() []string { return []string{"v4"} }
