//go:build darwin || dragonfly || freebsd || netbsd || openbsd

package conn

import "syscall"

// peekRecv is a non-blocking MSG_PEEK receive of up to len(buf) bytes
// (through the C library where the system requires it).
func peekRecv(fd uintptr, buf []byte) (int, error) {
	n, _, err := syscall.Recvfrom(int(fd), buf, syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	return n, err
}
