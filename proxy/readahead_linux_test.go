package proxy_test

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"hotswap/resp"
)

// fakeUpstream stands in for Redis and records how commands arrive: it answers every
// command +OK, but only once it holds `want` commands or no more bytes have come for
// a while. Each answer ends a round, so the rounds say how many batches hotswap needed
// to send what the client pipelined (hotswap sends a client's next batch only after
// the replies to the previous one).
type fakeUpstream struct {
	ln   net.Listener
	want int
	seen chan struct{} // closed when the first command has arrived
	hold chan struct{} // the first round is answered only once this is closed

	mu     sync.Mutex
	rounds []int // commands per round, after the first
}

func mustStartFake(tb testing.TB, want int) *fakeUpstream {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	f := &fakeUpstream{ln: ln, want: want, seen: make(chan struct{}), hold: make(chan struct{})}
	tb.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go f.serve(c)
		}
	}()
	return f
}

func (f *fakeUpstream) serve(c net.Conn) {
	defer c.Close()
	var buf []byte
	tmp := make([]byte, 64<<10)
	pending, first := 0, true
	for {
		_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		n, err := c.Read(tmp)
		buf = append(buf, tmp[:n]...)
		for {
			var sc resp.Scanner
			m, serr := sc.Scan(buf)
			if serr != nil || m == 0 {
				break
			}
			buf = buf[m:]
			pending++
		}
		var ne net.Error
		quiet := errors.As(err, &ne) && ne.Timeout()
		if err != nil && !quiet {
			return
		}
		if pending == 0 || (!quiet && pending < f.want && !first) {
			continue
		}
		if first {
			close(f.seen)
			<-f.hold
			first = false
		} else {
			f.mu.Lock()
			f.rounds = append(f.rounds, pending)
			f.mu.Unlock()
		}
		if _, err := c.Write(bytes.Repeat([]byte("+OK\r\n"), pending)); err != nil {
			return
		}
		pending = 0
	}
}

// A pipeline of 16 MSETs of 1.3 KB each (what redis-benchmark -P 16 -d 100 sends,
// 21 KB) that the client sent while hotswap was busy reaches Redis as one batch: hotswap
// reads all that is waiting, not 4 KiB at a time.
func TestServer_PipelineOneBatch(t *testing.T) {
	const n = 16
	for _, size := range []int{1300, 4000} {
		t.Run(fmt.Sprintf("%dx%dB", n, size), func(t *testing.T) {
			f := mustStartFake(t, n)
			srv := mustStartProxy(t, f.ln.Addr().String())
			cl := mustDialRaw(t, srv.Addr().String())

			// The first command keeps hotswap waiting for Redis, so the pipeline is
			// all in hotswap's socket before hotswap reads again.
			cl.Send(resp.AppendCommandString(nil, "PING"))
			<-f.seen
			var req []byte
			for i := 0; i < n; i++ {
				args := []string{"MSET"}
				for k := 0; k < 10; k++ {
					args = append(args, fmt.Sprintf("key:%02d:%d", i, k), strings.Repeat("v", size/10-16))
				}
				req = resp.AppendCommandString(req, args...)
			}
			cl.Send(req)
			waitSent(t, cl.c)
			close(f.hold)

			for i := 0; i < n+1; i++ {
				if got := string(cl.Read()); got != "+OK\r\n" {
					t.Fatalf("reply %d = %q", i, got)
				}
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			if len(f.rounds) != 1 || f.rounds[0] != n {
				t.Fatalf("%d commands (%d bytes) reached the upstream in rounds of %v, want one round of %d", n, len(req), f.rounds, n)
			}
		})
	}
}

// waitSent waits until the kernel has delivered everything written on c to the peer
// (nothing left in c's send queue).
func waitSent(tb testing.TB, c net.Conn) {
	tb.Helper()
	rc, err := c.(syscall.Conn).SyscallConn()
	if err != nil {
		tb.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		var n int
		var ierr error
		if err := rc.Control(func(fd uintptr) { n, ierr = unix.IoctlGetInt(int(fd), unix.SIOCOUTQ) }); err != nil || ierr != nil {
			tb.Fatal(err, ierr)
		}
		if n == 0 {
			time.Sleep(10 * time.Millisecond) // and let the peer's kernel queue it
			return
		}
		time.Sleep(time.Millisecond)
	}
	tb.Fatal("the pipeline was not sent within 5s")
}
