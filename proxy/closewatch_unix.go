//go:build unix

package proxy

import (
	"errors"
	"net"
	"sync/atomic"
	"syscall"
	"time"
)

// watchClose reports when the client closes its connection while hotswap is not
// reading from it (a blocking command is in flight). It peeks without consuming, so
// redcon still sees every byte the client sends. If the client sends more commands
// while blocked, the watch ends at the first byte (closure is then noticed when the
// reply is written), as there is no way to look past unread data without reading it.
func watchClose(nc net.Conn) (gone <-chan struct{}, stop func()) {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil, func() {}
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, func() {}
	}
	g := make(chan struct{})
	done := make(chan struct{})
	var stopped atomic.Bool
	go func() {
		defer close(done)
		var buf [1]byte
		_ = rc.Read(func(fd uintptr) bool {
			if stopped.Load() {
				return true
			}
			n, _, err := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
			if errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EINTR) {
				return false // nothing yet: wait until readable
			}
			if err != nil || n == 0 {
				close(g) // reset or orderly close
			}
			return true
		})
	}()
	return g, func() {
		stopped.Store(true)
		_ = nc.SetReadDeadline(time.Unix(1, 0)) // wake the waiting Read
		<-done
		_ = nc.SetReadDeadline(time.Time{})
	}
}
