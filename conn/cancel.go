package conn

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// ErrNoCancelKey is returned by CancelRequest when the server sent no
// BackendKeyData (some poolers do not): cancellation is unavailable.
var ErrNoCancelKey = errors.New("conn: the server sent no cancel key")

// CancelRequest asks the server, over a new connection to the same host, to
// cancel whatever this connection is running. It returns once the server
// has received the request (it closes the cancel connection) or ctx ends;
// success says nothing about whether anything was cancelled: the effect is
// at most an ErrorResponse 57014 on this connection. It may be called from
// any goroutine. When TLS is in use the request travels over TLS as well, so
// the cancel key is never sent in clear. On a closed connection (Close, or
// closed after a failure) nothing runs that could be cancelled: CancelRequest
// then returns an error matching ErrClosed without connecting (a connection
// attempt, and a connection slot on the server, for nothing).
func (c *Conn) CancelRequest(ctx context.Context) error {
	c.closeMu.Lock()
	closed := c.closed
	c.closeMu.Unlock()
	if closed {
		return fmt.Errorf("cancel: %w", ErrClosed)
	}
	return c.cancelRequest(ctx)
}

func (c *Conn) cancelRequest(ctx context.Context) error {
	if len(c.secretKey) == 0 {
		return ErrNoCancelKey
	}
	network, addr := c.host.NetworkAddress()
	if ra := c.remoteAddr(); ra != "" && network == "tcp" {
		addr = ra // the address actually connected to, not a fresh lookup
	}
	nc, err := c.cfg.DialFunc(ctx, network, addr)
	if err != nil {
		return fmt.Errorf("cancel: %w", err)
	}
	cc := &Conn{cfg: c.cfg, host: c.host, nc: nc}
	cc.watch.start(ctx, nc)
	defer func() {
		cc.watch.stop()
		cc.nc.Close()
	}()
	if c.tlsState != nil {
		if err := cc.startTLS(); err != nil {
			return fmt.Errorf("cancel: %w", err)
		}
	}
	req := make([]byte, 12+len(c.secretKey))
	binary.BigEndian.PutUint32(req[0:], uint32(len(req)))
	binary.BigEndian.PutUint32(req[4:], 80877102)
	binary.BigEndian.PutUint32(req[8:], c.pid)
	copy(req[12:], c.secretKey)
	if _, err := cc.nc.Write(req); err != nil {
		return fmt.Errorf("cancel: %w", err)
	}
	// The server answers nothing and closes the connection once it has
	// signalled the backend; waiting for that closes the race with the next
	// request on this connection.
	var b [1]byte
	_, err = cc.nc.Read(b[:])
	if err != nil && !errors.Is(err, io.EOF) && ctx.Err() != nil {
		return fmt.Errorf("cancel: %w", ctx.Err())
	}
	return nil
}

// remoteAddr returns the TCP address the connection is connected to.
func (c *Conn) remoteAddr() string {
	if c.nc == nil || c.nc.RemoteAddr() == nil {
		return ""
	}
	if c.nc.RemoteAddr().Network() != "tcp" {
		return ""
	}
	return c.nc.RemoteAddr().String()
}
