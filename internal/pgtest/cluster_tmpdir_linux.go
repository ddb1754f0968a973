package pgtest

import (
	"os"
	"syscall"
)

// clusterShmDir is a memory file system present on most Linux systems.
const clusterShmDir = "/dev/shm"

// clusterTmpfsMagic is TMPFS_MAGIC from linux/magic.h.
const clusterTmpfsMagic = 0x01021994

// clusterShmMinFree is the free space /dev/shm must have to host clusters:
// far more than a test cluster needs, so that a small /dev/shm (Docker's
// default is 64 MiB) is never chosen.
const clusterShmMinFree = 2 << 30

// clusterDefaultTempDir returns /dev/shm when it is a writable tmpfs with
// at least clusterShmMinFree bytes free, else os.TempDir(). A cluster in
// memory starts several times faster than one on a disk, and fsync is off
// anyway, so durability is not lost.
func clusterDefaultTempDir() string {
	var st syscall.Statfs_t
	if err := syscall.Statfs(clusterShmDir, &st); err != nil {
		return os.TempDir()
	}
	if uint64(st.Type) != clusterTmpfsMagic || st.Bavail*uint64(st.Bsize) < clusterShmMinFree {
		return os.TempDir()
	}
	if syscall.Access(clusterShmDir, 2 /* W_OK */) != nil {
		return os.TempDir()
	}
	return clusterShmDir
}
