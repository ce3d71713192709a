package proxy_test

import (
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// protocolInputs are requests at the edges of RESP: empty and negative counts, numbers
// Redis refuses, CR not followed by LF, NUL bytes (Redis stops at them and waits),
// inline quoting, and the 64 KiB limits on lines.
var protocolInputs = []string{
	"*0\r\n*1\r\n$4\r\nPING\r\n",
	"*-1\r\n*1\r\n$4\r\nPING\r\n",
	"*-5\r\n*1\r\n$4\r\nPING\r\n",
	"*-0\r\n*1\r\n$4\r\nPING\r\n",
	"*+1\r\n$4\r\nPING\r\n",
	"*01\r\n$4\r\nPING\r\n",
	"*\r\n",
	"*x\r\n",
	"*1 \r\n$4\r\nPING\r\n",
	"*1\n$4\r\nPING\r\n",
	"*2147483648\r\n",
	"*2147483647\r\n",
	"*1\rX$4\r\nPING\r\n",
	"*1\r\n$4\rXPING\r\n",
	"*1\r\n$4\r\nPINGxx*1\r\n$4\r\nPING\r\n",
	"*1\r\n$3\r\nGETxx",
	"*2\r\n$4\r\nECHO\r\n$2\r\nabXY*1\r\n$4\r\nPING\r\n",
	"*1\r\n$-1\r\n",
	"*1\r\n$x\r\n",
	"*1\r\n$ 4\r\nPING\r\n",
	"*1\r\n$4\nPING\r\n",
	"*1\r\n$536870913\r\n",
	"*1\r\n$536870912\r\n",
	"*1\r\n$99999999999\r\n",
	"*2\r\n$4\r\nECHO\r\n$99999999999\r\n",
	"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$-1\r\n",
	"*1\r\nx",
	"*1\r\nx\r\n",
	"*2\r\n$3\r\nGET\r\n:1\r\n",
	"*1\r\n\r\n",
	"*1\r\n\n\r\n",
	"*1\r\n\x80\r\n",
	"*1\r\n$x\r\n",
	"*1\x00\r\n$4\r\nPING\r\n",
	"*1\r\n$4\x00\r\nPING\r\n",
	"\x00\x01\x02\r\n",
	"\x00\x01\x02\r\nPING\r\n",
	"PING\x00 x\r\n",
	"PING\r\n*x\r\n",
	"PING\r\n*1\r\n$x\r\n",
	"*1\r\n$4\r\nPING\r\n*2\r\n$4\r\nECHO\r\n$1\r\nz\r\n*1\r\n$ 1\r\n",
	"\r\n\r\n\nPING\r\n",
	"PING\n",
	"ECHO \"a\\x41\\n\"\r\n",
	"ECHO 'a\\'b'\r\n",
	"ECHO \"a\"b\r\n",
	"ECHO a\"b c\"\r\n",
	"ECHO a'b c'\r\n",
	"ECHO \"a\r\n",
	"SET \"unbalanced\r\n",
	"ECHO\ta\r\n",
	"ECHO\va\r\n",
	"ECHO a\rb\n",
	"  ECHO   x  \r\n",
	"ECHO \"\"\r\n",
	"ECHO \"a\\q\\\"\"\r\n",
	"ECHO \"\\x4g\"\r\n",
	"ECHO \"a\"\t\r\n",
	"ECHO \"\\b\\a\\t\\r\"\r\n",
	"*2\r\n$4\r\nECHO\r\n$3\r\nabc\r\n*1\r\n$4\r\nPING",
	"*1\r\n$4\r\nQUIT\r\n*x\r\n",
	strings.Repeat("a", 64<<10),
	strings.Repeat("a", 64<<10+1),
	"*" + strings.Repeat("1", 64<<10),
	"*1\r\n$" + strings.Repeat("1", 64<<10-1),
	"*1\r\n$" + strings.Repeat("1", 64<<10),
	"PING\r\n" + strings.Repeat("b", 64<<10+1),
}

// Requests at the edges of the protocol get byte-identical answers from hotswap and
// Redis, and the connection is closed (or left open) alike: hotswap's request parser
// is Redis' (see internal/redcon).
func TestServer_ProtocolEdgeCases(t *testing.T) {
	e := mustStart(t, nil)
	type result struct {
		out    string
		closed bool
	}
	var mu sync.Mutex
	got := map[string][2]result{}
	var wg sync.WaitGroup
	for _, in := range protocolInputs {
		for i, addr := range []string{e.addr, e.direct.Addr} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				out, closed, err := exchangeRaw(addr, in, 500*time.Millisecond)
				if err != nil {
					t.Errorf("%.40q to %s: %v", in, addr, err)
					return
				}
				mu.Lock()
				r := got[in]
				r[i] = result{out, closed}
				got[in] = r
				mu.Unlock()
			}()
		}
	}
	wg.Wait()
	for _, in := range protocolInputs {
		hs, rd := got[in][0], got[in][1]
		if hs != rd {
			t.Errorf("%.60q:\n hotswap %q (closed %v)\n   redis %q (closed %v)", in, hs.out, hs.closed, rd.out, rd.closed)
		}
	}
	if got := string(mustDialRaw(t, e.addr).Do("PING")); got != "+PONG\r\n" {
		t.Fatalf("after the edge cases, PING = %q", got)
	}
}

// exchangeRaw sends in on a new connection and returns everything the server writes
// until it closes the connection, or until it has been silent for quiet.
func exchangeRaw(addr, in string, quiet time.Duration) (string, bool, error) {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return "", false, err
	}
	defer c.Close()
	if _, err := c.Write([]byte(in)); err != nil {
		return "", false, err
	}
	var out []byte
	buf := make([]byte, 4096)
	for {
		_ = c.SetReadDeadline(time.Now().Add(quiet))
		n, err := c.Read(buf)
		out = append(out, buf[:n]...)
		var ne net.Error
		switch {
		case err == nil:
		case errors.As(err, &ne) && ne.Timeout():
			return string(out), false, nil
		case errors.Is(err, io.EOF) || strings.Contains(err.Error(), "reset"):
			return string(out), true, nil
		default:
			return string(out), false, err
		}
	}
}
