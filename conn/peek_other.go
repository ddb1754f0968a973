//go:build !(darwin || dragonfly || freebsd || linux || netbsd || openbsd)

package conn

import "net"

// socketPeeker is unavailable on this platform: callers fall back to
// a read with a near-zero deadline.
type socketPeeker struct{}

func newSocketPeeker(net.Conn) *socketPeeker { return nil }

func (*socketPeeker) quiet() bool { return false }
