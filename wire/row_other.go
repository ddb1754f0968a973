//go:build !amd64 || purego

package wire

// nextRow is NextRow's implementation: in this build, the Go column loop.
var nextRow = (*Frontend).nextRowGo
