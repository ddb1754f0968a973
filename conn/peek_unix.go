//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package conn

import (
	"net"
	"syscall"
)

// socketPeeker tells, with one non-blocking MSG_PEEK receive on the socket
// and without allocating, whether the server has sent anything. It never
// consumes a byte: the wire reader still reads every byte.
type socketPeeker struct {
	rc  syscall.RawConn
	buf [1]byte
	n   int
	err error
	fn  func(fd uintptr) bool // made once: a method value passed on each call would allocate
}

// newSocketPeeker returns a peeker for the socket under nc (under TLS too),
// or nil when nc is not a socket (net.Pipe, say).
func newSocketPeeker(nc net.Conn) *socketPeeker {
	sc, ok := beneathTLS(nc).(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	p := &socketPeeker{rc: rc}
	p.fn = func(fd uintptr) bool {
		p.n, p.err = peekRecv(fd, p.buf[:])
		return true
	}
	return p
}

// quiet reports whether nothing is waiting on the socket. It answers false
// when it cannot tell (an error, the end of the stream): a real read then
// finds out.
func (p *socketPeeker) quiet() bool {
	if err := p.rc.Read(p.fn); err != nil {
		return false
	}
	return p.err == syscall.EAGAIN || p.err == syscall.EWOULDBLOCK
}
