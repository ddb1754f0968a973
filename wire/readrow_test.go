package wire_test

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pgstrict/pgstrict/wire"
)

// chunkSource serves its chunks one per Read (a chunk larger than the
// caller's buffer over several), then io.EOF. A chunk with err set returns
// that error instead of bytes. It counts its reads.
type chunkSource struct {
	chunks []chunk
	reads  int
}

type chunk struct {
	b   []byte
	err error
}

func (s *chunkSource) Read(p []byte) (int, error) {
	s.reads++
	if len(s.chunks) == 0 {
		return 0, io.EOF
	}
	c := &s.chunks[0]
	if c.err != nil {
		err := c.err
		s.chunks = s.chunks[1:]
		return 0, err
	}
	n := copy(p, c.b)
	c.b = c.b[n:]
	if len(c.b) == 0 {
		s.chunks = s.chunks[1:]
	}
	return n, nil
}

// add queues the encoded msgs as one chunk.
func (s *chunkSource) add(tb testing.TB, msgs ...pgproto3.BackendMessage) {
	tb.Helper()
	s.chunks = append(s.chunks, chunk{b: trEncodeAll(tb, msgs...)})
}

// idleFrontend returns a Frontend on a chunkSource that has completed its
// startup.
func idleFrontend(t *testing.T, opts wire.FrontendOptions) (*wire.Frontend, *chunkSource) {
	t.Helper()
	src := &chunkSource{}
	f := wire.NewFrontend(src, opts)
	require.NoError(t, f.SendStartup(trStartupParams()))
	src.add(t, trServerStartup()...)
	for f.State() != wire.StateIdle {
		_, _, err := f.Receive()
		require.NoError(t, err)
	}
	return f, src
}

// rowsFrontend returns a Frontend, on a chunkSource, that has sent a simple
// Query and received the RowDescription of cols text columns, every chunk
// queued so far having been read.
func rowsFrontend(t *testing.T, opts wire.FrontendOptions, cols int) (*wire.Frontend, *chunkSource) {
	t.Helper()
	f, src := idleFrontend(t, opts)
	_, err := f.SendQuery("select …")
	require.NoError(t, err)
	src.add(t, textRowDescription(cols))
	msg, _, err := f.Receive()
	require.NoError(t, err)
	require.IsType(t, &pgproto3.RowDescription{}, msg)
	return f, src
}

// eachRowPath runs fn with NextRow's register scan and, where the
// processor has it, with its Go column loop: ReadRow has both.
func eachRowPath(t *testing.T, fn func(t *testing.T)) {
	for _, scan := range []bool{true, false} {
		name := "goloop"
		if scan {
			name = "scan"
		}
		restore, ok := wire.SetRowScan(scan)
		t.Run(name, func(t *testing.T) {
			defer restore()
			if !ok && scan {
				// Without the scan, SetRowScan changed nothing and the Go
				// loop runs; the goloop run covers it.
				t.Skip("no register scan in this build")
			}
			fn(t)
		})
	}
}

// TestReadRowCompletesAStraddlingRow cuts the second row at every byte: once
// its header is buffered, ReadRow reads the rest (one more read) and returns
// the row where NextRow declines; a cut inside the header is left to
// Receive, and nothing is read.
func TestReadRowCompletesAStraddlingRow(t *testing.T) {
	eachRowPath(t, func(t *testing.T) {
		second := trEncodeAll(t, row("ü-2", "NULL", "a value of thirty-two bytes, ok!"))
		for cut := 1; cut < len(second); cut++ {
			f, src := rowsFrontend(t, wire.FrontendOptions{}, 3)
			first := trEncodeAll(t, row("1", "one", ""))
			src.chunks = append(src.chunks, chunk{b: append(first, second[:cut]...)}, chunk{b: second[cut:]})
			_, _, err := f.Receive() // reads the first chunk
			require.NoError(t, err)
			reads := src.reads
			_, ok := f.NextRow()
			require.False(t, ok, "cut %d: NextRow with part of the row buffered", cut)
			require.Equal(t, reads, src.reads, "cut %d: NextRow read", cut)
			vals, ok := f.ReadRow()
			if cut < 5 {
				assert.False(t, ok, "cut %d: ReadRow without the whole header", cut)
				assert.Equal(t, reads, src.reads, "cut %d: ReadRow read without the whole header", cut)
				msg, _, err := f.Receive()
				require.NoError(t, err)
				vals = msg.(*pgproto3.DataRow).Values
			} else {
				require.True(t, ok, "cut %d: ReadRow declined", cut)
				assert.Equal(t, reads+1, src.reads, "cut %d", cut)
			}
			assert.Equal(t, [][]byte{[]byte("ü-2"), nil, []byte("a value of thirty-two bytes, ok!")}, vals, "cut %d", cut)
			assert.Equal(t, wire.StateBusy, f.State())
			assert.Zero(t, f.Buffered(), "cut %d", cut)
		}
	})
}

// errStall is a source error that is not the end of the stream: a read
// deadline, say.
var errStall = errors.New("stalled")

// TestReadRowHoldsTheReadError checks that a read error met by ReadRow is
// not lost and changes nothing: the Receive that follows returns it as a
// Frontend that never called ReadRow would, and a source that recovers
// resumes the row.
func TestReadRowHoldsTheReadError(t *testing.T) {
	eachRowPath(t, func(t *testing.T) {
		whole := trEncodeAll(t, row("1", "one"), row("2", "two, cut after its length word"))
		cut := len(whole) - 10
		for _, tc := range []struct {
			name  string
			after []chunk // what the source serves once the cut is read
		}{
			{"stall then the rest", []chunk{{err: errStall}, {b: whole[cut:]}}},
			{"end of stream", nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				// run reads the reply up to the error, through ReadRow or
				// NextRow, and returns the error and the Frontend.
				run := func(useReadRow bool) (error, *wire.Frontend) {
					f, src := rowsFrontend(t, wire.FrontendOptions{}, 2)
					src.chunks = append(append(src.chunks, chunk{b: bytes.Clone(whole[:cut])}), tc.after...)
					msg, _, err := f.Receive()
					require.NoError(t, err)
					require.Equal(t, [][]byte{[]byte("1"), []byte("one")}, msg.(*pgproto3.DataRow).Values)
					if useReadRow {
						_, ok := f.ReadRow()
						require.False(t, ok, "ReadRow returned a row the source did not complete")
						require.NoError(t, f.Err(), "a held read error desynchronized the stream")
					}
					_, _, err = f.Receive()
					return err, f
				}
				want, _ := run(false)
				got, f := run(true)
				require.Error(t, got)
				assert.Equal(t, want.Error(), got.Error())
				var wantPE, gotPE *wire.ProtocolError
				if errors.As(want, &wantPE) {
					require.ErrorAs(t, got, &gotPE)
					assert.Equal(t, wantPE.Reason, gotPE.Reason)
					assert.Equal(t, wantPE.Offset, gotPE.Offset)
					assert.Equal(t, wire.ReasonTruncated, gotPE.Reason)
					return
				}
				require.ErrorIs(t, got, errStall)
				assert.NoError(t, f.Err())
				msg, _, err := f.Receive()
				require.NoError(t, err, "the row after the stall")
				assert.Equal(t, [][]byte{[]byte("2"), []byte("two, cut after its length word")},
					msg.(*pgproto3.DataRow).Values)
			})
		}
	})
}

// TestReadRowReadsNothingElse checks that ReadRow reads only to complete a
// DataRow that may arrive: another message cut short, a DataRow over its
// cap and a DataRow the fast path is not armed for are left to Receive
// without a read.
func TestReadRowReadsNothingElse(t *testing.T) {
	eachRowPath(t, func(t *testing.T) {
		cutAt := func(b []byte, n int) []byte { return bytes.Clone(b[:n]) }
		long := trEncodeAll(t, row("x", string(bytes.Repeat([]byte("y"), 100))))
		complete := trEncodeAll(t, &pgproto3.CommandComplete{CommandTag: []byte("SELECT 1")})
		for _, tc := range []struct {
			name   string
			opts   wire.FrontendOptions
			buffer []byte // after the first row
			reason wire.Reason
		}{
			{"CommandComplete", wire.FrontendOptions{}, cutAt(complete, 8), wire.ReasonTruncated},
			{"DataRow over the cap", wire.FrontendOptions{Reader: wire.ReaderOptions{Limits: wire.Limits{DataRow: 64}}},
				cutAt(long, 40), wire.ReasonMessageTooLarge},
		} {
			t.Run(tc.name, func(t *testing.T) {
				f, src := rowsFrontend(t, tc.opts, 2)
				src.chunks = append(src.chunks, chunk{b: append(trEncodeAll(t, row("1", "one")), tc.buffer...)})
				_, _, err := f.Receive()
				require.NoError(t, err)
				reads := src.reads
				_, ok := f.ReadRow()
				assert.False(t, ok)
				assert.Equal(t, reads, src.reads, "ReadRow read")
				_, _, err = f.Receive()
				var pe *wire.ProtocolError
				require.ErrorAs(t, err, &pe)
				assert.Equal(t, tc.reason, pe.Reason)
			})
		}
		t.Run("not armed: the row limit is reached", func(t *testing.T) {
			f, src := idleFrontend(t, wire.FrontendOptions{})
			sendPortalExecute(t, f, nil, 1)
			second := trEncodeAll(t, row("2", "two"))
			src.chunks = append(src.chunks, chunk{b: append(trEncodeAll(t, &pgproto3.ParseComplete{},
				&pgproto3.BindComplete{}, textRowDescription(2), row("1", "one")), second[:9]...)}, chunk{b: second[9:]})
			for range 3 {
				_, _, err := f.Receive()
				require.NoError(t, err)
			}
			vals, ok := f.ReadRow()
			require.True(t, ok)
			assert.Equal(t, [][]byte{[]byte("1"), []byte("one")}, vals)
			reads := src.reads
			_, ok = f.ReadRow()
			assert.False(t, ok, "ReadRow past the Execute's row limit")
			assert.Equal(t, reads, src.reads, "ReadRow read past the row limit")
			_, _, err := f.Receive()
			var pe *wire.ProtocolError
			require.ErrorAs(t, err, &pe)
			assert.Contains(t, pe.Error(), "row limit of 1")
		})
	})
}
