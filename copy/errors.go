package pgcopy

import (
	"errors"
	"strconv"
	"strings"

	"github.com/pgstrict/pgstrict/conn"
)

// RowError locates a failure at one row of a COPY: a value the client
// refused to encode (invalid UTF-8, a NUL byte, a Go value that does not fit
// the column), an error of the RowSource, or a server error whose context
// names the line ("COPY t, line 3, column b: …"). Err is the cause; a server
// error stays reachable with errors.As as a *conn.PgError.
type RowError struct {
	// Row is the 1-based row number: the row of the RowSource for client
	// errors, the line number the server reported for server errors (which
	// counts a CSV header line, and the lines of raw data given to From).
	Row int64
	// Column is the column name, or "" when the failure is not tied to one.
	Column string
	// Err is the cause.
	Err error
}

// Error implements error: `pgcopy: row 3, column "b": cause`.
func (e *RowError) Error() string {
	s := "pgcopy: row " + strconv.FormatInt(e.Row, 10)
	if e.Column != "" {
		s += ", column " + strconv.Quote(e.Column)
	}
	return s + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *RowError) Unwrap() error { return e.Err }

// withRow wraps a server error whose context names a COPY line into a
// *RowError; any other error is returned as is.
func withRow(err error) error {
	var pe *conn.PgError
	if !errors.As(err, &pe) || pe.Fatal() {
		return err
	}
	row, col, ok := ParseWhere(pe.Where)
	if !ok {
		return err
	}
	if col == "" {
		col = pe.ColumnName
	}
	return &RowError{Row: row, Column: col, Err: err}
}

// ParseWhere extracts the line number and the column name from the context
// (the Where field of an ErrorResponse) of an error raised during COPY FROM
// STDIN: "COPY t, line 3, column b: \"x\"" gives 3 and "b". ok is false when
// no line of where has that form.
func ParseWhere(where string) (line int64, column string, ok bool) {
	for where != "" {
		l := where
		if i := strings.IndexByte(where, '\n'); i >= 0 {
			l, where = where[:i], where[i+1:]
		} else {
			where = ""
		}
		if !strings.HasPrefix(l, "COPY ") {
			continue
		}
		i := strings.Index(l, ", line ")
		if i < 0 {
			continue
		}
		rest := l[i+len(", line "):]
		j := 0
		for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
			j++
		}
		n, err := strconv.ParseInt(rest[:j], 10, 64)
		if err != nil {
			continue
		}
		rest = rest[j:]
		if after, found := strings.CutPrefix(rest, ", column "); found {
			if k := strings.Index(after, ": "); k >= 0 {
				after = after[:k]
			}
			column = after
		}
		return n, column, true
	}
	return 0, "", false
}
