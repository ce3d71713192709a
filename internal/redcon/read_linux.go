//go:build linux

package redcon

import (
	"io"
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"hotswap/internal/rawio"
)

// rawConn returns the connection's file descriptor access for TCP and Unix
// connections, whose reads readRaw does itself; nil for anything else (TLS, pipes,
// test readers), which is read with plain Reads.
func rawConn(r io.Reader) syscall.RawConn { return rawio.RawConn(r) }

// readRaw is the body of RawConn.Read: it reads what the socket holds into buf[end:],
// or, when nothing is there, returns false so the runtime parks the goroutine until
// the socket is readable (the way net.Conn.Read waits). While it waits it holds no
// buffer: an idle connection costs its goroutine and little else.
func (rd *Reader) readRaw(fd uintptr) bool {
	if rd.buf == nil {
		rd.usePooled()
	}
	n, err := readFD(int(fd), rd.buf[rd.end:])
	switch {
	case err == unix.EAGAIN:
		if rd.start == rd.end {
			rd.release()
		}
		return false
	case err != nil:
		rd.rerr = os.NewSyscallError("read", err)
		return true
	case n == 0:
		rd.rerr = io.EOF
		return true
	}
	rd.end += n
	if rd.end == len(rd.buf) {
		rd.readAhead(int(fd), n)
	}
	return true
}

// readAhead reads what the client has already sent beyond a read of n bytes that filled
// the buffer: FIONREAD (SIOCINQ for sockets) says how much is waiting, the buffer grows to
// take it, up to maxReadAhead bytes for the round. Without it a 20 KB pipeline would be
// handed to the handler in 4 KiB pieces, each waiting for the previous one's replies. It
// never waits: it reads only bytes the kernel already holds.
func (rd *Reader) readAhead(fd int, n int) {
	for total := n; total < maxReadAhead; {
		avail, err := rawio.Queued(fd)
		if err != nil || avail <= 0 {
			return
		}
		avail = min(avail, maxReadAhead-total)
		if len(rd.buf)-rd.end < avail {
			// The slack lets the read tell whether more arrived meanwhile (it
			// fills the buffer again: ask again) without a second FIONREAD.
			rd.grow(avail + bufSize)
		}
		p := rd.buf[rd.end:min(len(rd.buf), rd.end+maxReadAhead-total)]
		n, err := readFD(fd, p)
		if err != nil || n <= 0 {
			return // the next read reports an error or EOF
		}
		rd.end += n
		total += n
		if n < len(p) {
			return
		}
	}
}

// readFD reads without entering the scheduler's system-call state (see rawio).
func readFD(fd int, p []byte) (int, error) { return rawio.ReadFD(fd, p) }
