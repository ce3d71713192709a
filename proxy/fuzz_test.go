package proxy_test

import (
	"fmt"
	"net"
	"testing"
	"time"
)

// FuzzServer_Request sends arbitrary bytes as a client would: hotswap must not panic,
// must not leak the connection, and other clients must be unaffected.
// Run with: go test ./proxy -run '^$' -fuzz FuzzServer_Request -fuzztime 60s
func FuzzServer_Request(f *testing.F) {
	for _, s := range []string{
		"*1\r\n$4\r\nPING\r\n",
		"PING\r\n",
		"*1\r\n$x\r\n",
		"*x\r\n",
		"*-1\r\n",
		"*0\r\n",
		"*2\r\n$3\r\nGET\r\n:1\r\n",
		"*1\r\n$3\r\nGETX\r\n",
		"SET \"unbalanced\r\n",
		"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$-1\r\n",
		"*2\r\n$4\r\nECHO\r\n$99999999999\r\n",
		"*1\r\n$5\r\nMULTI\r\n*1\r\n$4\r\nEXEC\r\n",
		"*2\r\n$9\r\nSUBSCRIBE\r\n$1\r\nc\r\n*1\r\n$4\r\nPING\r\n",
		"*3\r\n$5\r\nBLPOP\r\n$1\r\nq\r\n$3\r\n0.1\r\n",
		"*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n",
		"*3\r\n$6\r\nCLIENT\r\n$5\r\nREPLY\r\n$3\r\nOFF\r\n*1\r\n$4\r\nPING\r\n",
		"*1\r\n$4\r\nQUIT\r\n*1\r\n$4\r\nPING\r\n",
		"\x00\x01\x02\r\n",
		"*1\r\n$8\r\nSHUTDOWN\r\n",
		// Where redcon's parser and Redis' differed (see internal/redcon/README.md).
		"*0\r\n*1\r\n$4\r\nPING\r\n",
		"*-1\r\n*1\r\n$4\r\nPING\r\n",
		"*01\r\n$4\r\nPING\r\n",
		"*+1\r\n$4\r\nPING\r\n",
		"*1\rX$4\rXPING\r\n",
		"*1\r\n$4\r\nPINGxx*1\r\n$4\r\nPING\r\n",
		"*1\r\n$3\r\nGETxx",
		"*1\r\n$536870913\r\n",
		"*2147483648\r\n",
		"*1\r\nx",
		"*1\r\n\x80\r\n",
		"*1\x00\r\n$4\r\nPING\r\n",
		"PING\r\n*x\r\n",
		"ECHO \"a\\x41\\n\" 'b\\'c' d\"e f\"\r\n",
		"ECHO \"a\"b\r\n",
		"ECHO\ta\vb\rc\n",
		"*1\r\n$4\r\nQUIT\r\n*x\r\n",
	} {
		f.Add([]byte(s))
	}
	e := mustStart(f, nil)
	control := mustDialRaw(f, e.addr)
	f.Fuzz(func(t *testing.T, in []byte) {
		if dangerous(in) {
			t.Skip("input names a command that changes the shared backend")
		}
		c, err := net.DialTimeout("tcp", e.addr, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(300 * time.Millisecond))
		_, _ = c.Write(in)
		buf := make([]byte, 4096)
		for {
			if _, err := c.Read(buf); err != nil {
				break
			}
		}
		c.Close()
		control.tb = t
		if got := string(control.Do("PING")); got != "+PONG\r\n" {
			t.Fatalf("control client after input %q: %q", in, got)
		}
		eventually(t, 5*time.Second, func() error {
			if n := e.srv.Stats().Clients; n != 1 {
				return fmt.Errorf("%d clients connected, want 1 (the control client): leaked", n)
			}
			return nil
		})
	})
}

// dangerous reports inputs naming commands that would stop or wipe the shared
// backend (or block it), which would make later inputs fail for reasons of their own.
func dangerous(in []byte) bool {
	for _, w := range []string{"shutdown", "debug", "flushall", "flushdb", "config", "script", "function", "client", "swapdb", "replicaof", "slaveof", "failover", "acl", "migrate", "save", "bgsave", "bgrewriteaof", "eval", "fcall", "monitor", "sync", "psync", "module"} {
		if containsFold(in, w) {
			return true
		}
	}
	return false
}

func containsFold(b []byte, w string) bool {
	n := len(w)
	for i := 0; i+n <= len(b); i++ {
		ok := true
		for j := 0; j < n; j++ {
			c := b[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != w[j] {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}
