// Package rawio reads and writes sockets with raw system calls: the same
// non-blocking read(2) and write(2) Go's net package makes, and the same wait in the
// runtime's poller when the socket is not ready, but without telling the scheduler
// that the goroutine entered a system call.
//
// Why: hotswap runs with GOMAXPROCS=1 by default. A goroutine that is inside a
// system call when the runtime's sysmon thread looks twice (20 µs apart) loses its P,
// which sysmon hands to another thread; when the call returns, the first thread has to
// win the P back. On a loaded machine a loopback write (which runs the receiver's TCP
// path too) often spans two looks, so every few commands cost a handoff, two futex
// wake-ups and a sysmon that never backs off from its 20 µs tick: 8–10% of hotswap's
// CPU at pipeline 1 in the pass-through profile (docs/BENCHMARKS.md). A non-blocking
// socket call cannot block, so there is nothing to hand off; a raw call keeps the P.
//
// Writes go in chunks of at most 256 KiB per call, so a huge reply does not keep the
// P (and a garbage collection waiting for it) inside the kernel for long.
package rawio

import (
	"io"
	"net"
	"os"
	"syscall"
)

const maxChunk = 256 << 10

// Conn does one socket's reads and writes. One goroutine may read while another
// writes; two concurrent reads (or writes) are not allowed.
type Conn struct {
	rc syscall.RawConn

	rp   []byte
	rn   int
	rerr error
	wp   []byte
	wn   int
	werr error

	readFn, writeFn func(uintptr) bool // bound once: a method value allocates
}

// New returns a Conn for a TCP or Unix socket, or nil for anything else (TLS, pipes)
// and on systems without raw socket calls: use c itself then.
func New(c net.Conn) *Conn {
	if !supported {
		return nil
	}
	rc := RawConn(c)
	if rc == nil {
		return nil
	}
	rw := &Conn{rc: rc}
	rw.readFn = rw.doRead
	rw.writeFn = rw.doWrite
	return rw
}

// RawConn returns the descriptor access of a TCP or Unix socket, or nil for anything
// else (TLS, pipes, test readers), whose reads and writes must go through their own
// methods.
func RawConn(r any) syscall.RawConn {
	var sc syscall.Conn
	switch c := r.(type) {
	case *net.TCPConn:
		sc = c
	case *net.UnixConn:
		sc = c
	default:
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

// Read reads what the socket holds into p, waiting until it holds something. It
// returns io.EOF when the peer closed, and the poller's error (closed, deadline) as
// net.Conn.Read does.
func (c *Conn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	c.rp, c.rn, c.rerr = p, 0, nil
	err := c.rc.Read(c.readFn)
	n, rerr := c.rn, c.rerr
	c.rp, c.rerr = nil, nil
	if err != nil {
		return 0, err
	}
	return n, rerr
}

// Write writes all of p, waiting for room as needed.
func (c *Conn) Write(p []byte) (int, error) {
	c.wp, c.wn, c.werr = p, 0, nil
	err := c.rc.Write(c.writeFn)
	n, werr := c.wn, c.werr
	c.wp, c.werr = nil, nil
	if err == nil {
		err = werr
	}
	return n, err
}

func (c *Conn) doRead(fd uintptr) bool {
	n, err := ReadFD(int(fd), c.rp)
	switch {
	case err == syscall.EAGAIN:
		return false // the runtime waits until the socket is readable
	case err != nil:
		c.rerr = os.NewSyscallError("read", err)
	case n == 0:
		c.rerr = io.EOF
	default:
		c.rn = n
	}
	return true
}

func (c *Conn) doWrite(fd uintptr) bool {
	for c.wn < len(c.wp) {
		n, err := writeFD(int(fd), c.wp[c.wn:min(len(c.wp), c.wn+maxChunk)])
		if err == syscall.EAGAIN {
			return false // the runtime waits until the socket has room
		}
		if err != nil {
			c.werr = os.NewSyscallError("write", err)
			return true
		}
		c.wn += n
	}
	return true
}
