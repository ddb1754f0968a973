package fuzz

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pgstrict/pgstrict/conn"
	"github.com/pgstrict/pgstrict/replication"
)

// The checks of the stateful targets must be able to fail: these tests
// feed them violations and expect a report.

// recorder is a reporter that keeps what it is told.
type recorder struct {
	errs, fatals []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}
func (r *recorder) Fatalf(format string, args ...any) {
	r.fatals = append(r.fatals, fmt.Sprintf(format, args...))
}

func TestStreamCheckReportsValuesNotFromTheStream(t *testing.T) {
	t.Parallel()
	stream := encodeBackend(&pgproto3.DataRow{Values: [][]byte{[]byte("hello")}},
		&pgproto3.CommandComplete{CommandTag: []byte("SELECT 1")})
	tests := []struct {
		// name names the case.
		name string
		// call makes one check.
		call func(k *streamCheck)
		// want is a substring of the report, "" for none.
		want string
	}{
		{name: "value from the stream", call: func(k *streamCheck) { k.row([][]byte{[]byte("hello"), nil}) }},
		{name: "value not in the stream", call: func(k *streamCheck) { k.row([][]byte{[]byte("bye")}) },
			want: "does not appear"},
		{name: "value over the cap", call: func(k *streamCheck) { k.bytes("COPY data", []byte("hello"), 3) },
			want: "passed the cap"},
		{name: "tag from the stream", call: func(k *streamCheck) { k.tag(conn.ParseCommandTag("SELECT 1")) }},
		{name: "tag not in the stream", call: func(k *streamCheck) { k.tag(conn.ParseCommandTag("DELETE 9")) },
			want: "command tag"},
		{name: "error message not in the stream", call: func(k *streamCheck) {
			k.pgErr(fmt.Errorf("wrapped: %w", &conn.PgError{Message: "invented", Code: "XX000"}))
		}, want: "error message"},
		{name: "notification not in the stream", call: func(k *streamCheck) {
			k.notification(&conn.Notification{Channel: "hello", Payload: "elsewhere"})
		}, want: "notification payload"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := &recorder{}
			k := &streamCheck{r: r, stream: stream, caps: sessionLimits, op: "test"}
			tc.call(k)
			if tc.want == "" {
				assert.Empty(t, r.errs)
				return
			}
			require.NotEmpty(t, r.errs)
			assert.Contains(t, r.errs[0], tc.want)
		})
	}
}

func TestLSNModelReportsViolations(t *testing.T) {
	t.Parallel()
	xlog := func(start, end replication.LSN, data string) *replication.XLogData {
		return &replication.XLogData{WALStart: start, ServerWALEnd: end, Data: []byte(data)}
	}
	tests := []struct {
		// name names the case.
		name string
		// logical selects the logical model.
		logical bool
		// steps are the accepted messages, in order, with their XLogData.
		steps []struct {
			x   *replication.XLogData
			msg replication.Message
		}
		// want is a substring of the report, "" for none.
		want string
	}{
		{name: "contiguous physical WAL", steps: steps(
			xlog(0x10, 0x20, "abcd"), nil, xlog(0x14, 0x20, "ef"), nil)},
		{name: "physical gap", steps: steps(xlog(0x10, 0x20, "abcd"), nil, xlog(0x18, 0x20, "ef"), nil),
			want: "where the WAL received so far ends"},
		{name: "physical WAL end backwards", steps: steps(xlog(0x10, 0x30, "ab"), nil, xlog(0x12, 0x20, "cd"), nil),
			want: "before the earlier"},
		{name: "physical WAL end behind the data", steps: steps(xlog(0x10, 0x11, "abcd"), nil),
			want: "before the end of the data"},
		{name: "ordered commits", logical: true, steps: steps(
			xlog(0x20, 0x20, ""), &replication.Commit{CommitLSN: 0x20, EndLSN: 0x28},
			xlog(0x30, 0x30, ""), &replication.Begin{FinalLSN: 0x40},
			xlog(0x40, 0x40, ""), &replication.Commit{CommitLSN: 0x40, EndLSN: 0x48})},
		{name: "commit before the previous end", logical: true, steps: steps(
			xlog(0x20, 0x20, ""), &replication.Commit{CommitLSN: 0x20, EndLSN: 0x28},
			xlog(0x24, 0x24, ""), &replication.Commit{CommitLSN: 0x24, EndLSN: 0x30}), want: "accepted a commit"},
		{name: "begin before the previous end", logical: true, steps: steps(
			xlog(0x20, 0x20, ""), &replication.Commit{CommitLSN: 0x20, EndLSN: 0x28},
			xlog(0x24, 0x24, ""), &replication.Begin{FinalLSN: 0x24}), want: "accepted Begin"},
		{name: "logical WAL end differs", logical: true, steps: steps(xlog(0x20, 0x21, ""), &replication.Begin{FinalLSN: 0x30}),
			want: "logical XLogData"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := &recorder{}
			m := &lsnModel{r: r, logical: tc.logical, expect: 0x10}
			for _, s := range tc.steps {
				m.check(s.x, 0, s.msg)
			}
			if tc.want == "" {
				assert.Empty(t, r.errs)
				return
			}
			require.NotEmpty(t, r.errs)
			assert.Contains(t, r.errs[0], tc.want)
		})
	}
}

// steps pairs XLogData headers with messages: x1, msg1, x2, msg2, ….
func steps(pairs ...any) []struct {
	x   *replication.XLogData
	msg replication.Message
} {
	var out []struct {
		x   *replication.XLogData
		msg replication.Message
	}
	for i := 0; i+1 < len(pairs); i += 2 {
		s := struct {
			x   *replication.XLogData
			msg replication.Message
		}{x: pairs[i].(*replication.XLogData)}
		if pairs[i+1] != nil {
			s.msg = pairs[i+1].(replication.Message)
		}
		out = append(out, s)
	}
	return out
}

func TestSegmentsCutWhereTheServerWaits(t *testing.T) {
	t.Parallel()
	ready := encodeBackend(&pgproto3.ReadyForQuery{TxStatus: 'I'})
	tag := encodeBackend(&pgproto3.CommandComplete{CommandTag: []byte("SELECT 1")})
	notice := encodeBackend(&pgproto3.NoticeResponse{Severity: "NOTICE", Code: "00000", Message: "n"})
	copyIn := encodeBackend(&pgproto3.CopyInResponse{})
	md5 := encodeBackend(&pgproto3.AuthenticationMD5Password{})
	authOK := encodeBackend(&pgproto3.AuthenticationOk{})
	cat := func(parts ...[]byte) []byte { return []byte(strings.Join(bytesToStrings(parts), "")) }
	tests := []struct {
		// name names the case.
		name string
		// stream is the input.
		stream []byte
		// want describes each segment: its length, then "a" if async, "c"
		// if it ends with CopyInResponse.
		want []string
	}{
		{name: "one reply", stream: cat(tag, ready), want: []string{fmt.Sprint(len(tag) + len(ready))}},
		{name: "two replies", stream: cat(tag, ready, tag, ready),
			want: []string{fmt.Sprint(len(tag) + len(ready)), fmt.Sprint(len(tag) + len(ready))}},
		{name: "async run first", stream: cat(notice, notice, tag, ready),
			want: []string{fmt.Sprint(2*len(notice)) + "a", fmt.Sprint(len(tag) + len(ready))}},
		{name: "notice inside a reply stays", stream: cat(tag, notice, ready),
			want: []string{fmt.Sprint(len(tag) + len(notice) + len(ready))}},
		{name: "copy in", stream: cat(copyIn, tag, ready),
			want: []string{fmt.Sprint(len(copyIn)) + "c", fmt.Sprint(len(tag) + len(ready))}},
		{name: "authentication request", stream: cat(md5, authOK, ready),
			want: []string{fmt.Sprint(len(md5)), fmt.Sprint(len(authOK) + len(ready))}},
		{name: "broken framing ends in one segment", stream: cat(tag, ready, []byte("Z\x00\x00\x00\x01xyz")),
			want: []string{fmt.Sprint(len(tag) + len(ready)), "8"}},
		{name: "trailing async", stream: cat(tag, ready, notice), want: []string{fmt.Sprint(len(tag) + len(ready)),
			fmt.Sprint(len(notice)) + "a"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var got []string
			for _, s := range segments(tc.stream) {
				d := fmt.Sprint(len(s.b))
				if s.async {
					d += "a"
				}
				if s.copyIn {
					d += "c"
				}
				got = append(got, d)
			}
			assert.Equal(t, tc.want, got)
		})
	}
}

func bytesToStrings(parts [][]byte) []string {
	out := make([]string, len(parts))
	for i, p := range parts {
		out[i] = string(p)
	}
	return out
}

func TestWatchdogReportsAHang(t *testing.T) {
	t.Parallel()
	r := &recorder{}
	release := make(chan struct{})
	defer close(release)
	watchdog(r, 20*time.Millisecond, func(step func(string)) {
		step("quick")
		step("stuck")
		<-release
	})
	require.Len(t, r.fatals, 1)
	assert.Contains(t, r.fatals[0], "stuck did not return")
	assert.Empty(t, r.errs)
}
