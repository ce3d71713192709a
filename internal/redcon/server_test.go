package redcon

import (
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// mustServe starts a Server on a free loopback port whose handler answers each
// command with its arguments joined, and closes the connection on QUIT.
func mustServe(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(ln.Addr().String(), func(c Conn, cmd Command) {
		var parts []string
		for _, a := range cmd.Args {
			parts = append(parts, string(a))
		}
		c.WriteString(strings.Join(parts, " "))
		if strings.EqualFold(parts[0], "quit") {
			c.Close()
		}
	}, nil, nil)
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		s.Close()
		<-done
	})
	return ln.Addr().String()
}

// exchange sends in and returns everything the server writes until it closes the
// connection (closed) or stays silent for a while.
func exchange(t *testing.T, addr, in string) (out string, closed bool) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(in)); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	b, err := io.ReadAll(c)
	return string(b), err == nil
}

// As in Redis: the commands before a protocol error are answered, then the error, then
// the connection closes; after QUIT nothing more is read.
func TestServer_ProtocolErrorAfterReplies(t *testing.T) {
	addr := mustServe(t)
	for _, tc := range []struct {
		in, out string
		closed  bool
	}{
		{"PING\r\n*1\r\n$1\r\na\r\n*x\r\nPING\r\n", "+PING\r\n+a\r\n-ERR Protocol error: invalid multibulk length\r\n", true},
		{"*1\r\n\x80\r\n", "-ERR Protocol error: expected '$', got '\x80'\r\n", true},
		{"QUIT\r\n*x\r\n", "+QUIT\r\n", true},
		{"*0\r\nPING\r\n", "+PING\r\n", false},
		{"*1\r\n$3\r\nGETxx", "+GET\r\n", false},
	} {
		out, closed := exchange(t, addr, tc.in)
		if out != tc.out || closed != tc.closed {
			t.Errorf("%q: got %q (closed %v), want %q (closed %v)", tc.in, out, closed, tc.out, tc.closed)
		}
	}
}
