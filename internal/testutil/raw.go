package testutil

import (
	"net"
	"testing"
	"time"

	"hotswap/resp"
)

// RawClient speaks RESP byte for byte, so replies can be compared exactly.
type RawClient struct {
	tb  testing.TB
	c   net.Conn
	buf []byte
	sc  resp.Scanner
}

// MustDialRaw connects to addr; the connection is closed when the test ends.
func MustDialRaw(tb testing.TB, addr string) *RawClient {
	tb.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		tb.Fatalf("dial %s: %v", addr, err)
	}
	tb.Cleanup(func() { c.Close() })
	return &RawClient{tb: tb, c: c}
}

// Do sends one command and returns its raw reply.
func (r *RawClient) Do(args ...string) []byte {
	r.tb.Helper()
	r.Send(resp.AppendCommandString(nil, args...))
	return r.Read()
}

// DoBytes is Do with binary arguments.
func (r *RawClient) DoBytes(args ...[]byte) []byte {
	r.tb.Helper()
	r.Send(resp.AppendCommand(nil, args...))
	return r.Read()
}

// Send writes raw bytes.
func (r *RawClient) Send(b []byte) {
	r.tb.Helper()
	_ = r.c.SetWriteDeadline(time.Now().Add(30 * time.Second))
	if _, err := r.c.Write(b); err != nil {
		r.tb.Fatalf("write: %v", err)
	}
}

// Read returns the next raw reply.
func (r *RawClient) Read() []byte {
	r.tb.Helper()
	b, err := r.ReadTimeout(30 * time.Second)
	if err != nil {
		r.tb.Fatalf("read: %v", err)
	}
	return b
}

// ReadTimeout returns the next raw reply or an error (io.EOF when the server closed).
func (r *RawClient) ReadTimeout(d time.Duration) ([]byte, error) {
	_ = r.c.SetReadDeadline(time.Now().Add(d))
	tmp := make([]byte, 64<<10)
	for {
		if len(r.buf) > 0 {
			n, err := r.sc.Scan(r.buf)
			if err != nil {
				return nil, err
			}
			if n > 0 {
				out := append([]byte(nil), r.buf[:n]...)
				r.buf = r.buf[n:]
				r.sc.Reset()
				return out, nil
			}
		}
		k, err := r.c.Read(tmp)
		if k > 0 {
			r.buf = append(r.buf, tmp[:k]...)
			continue
		}
		if err != nil {
			return nil, err
		}
	}
}
