//go:build !linux

package redcon

import (
	"io"
	"syscall"
)

// rawConn returns nil: outside Linux every connection is read with plain Reads, one
// buffer's worth at a time, without read-ahead.
func rawConn(io.Reader) syscall.RawConn { return nil }

func (rd *Reader) readRaw(uintptr) bool { return true }
