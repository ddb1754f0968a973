// Package pgcopy runs COPY FROM STDIN and COPY TO STDOUT over a conn.Conn with
// exact tracking of the COPY sub-states, streaming from an io.Reader and to an
// io.Writer, with row encoders and decoders for the text, CSV and binary
// formats.
//
// # Overview
//
// The directory is named copy; the package is named pgcopy so that importing it
// never shadows the builtin copy. It sits above package conn and beside pool and
// replication. It is being built; see the project issues for its status.
package pgcopy
