//go:build !amd64 || purego

package wire

// nextRow is NextRow's and ReadRow's implementation (read set for
// ReadRow): in this build, the Go column loop.
var nextRow = (*Frontend).nextRowGo
