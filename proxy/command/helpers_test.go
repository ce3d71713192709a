package command

import (
	"strings"
	"testing"
	"time"

	"hotswap/internal/testutil"
	"hotswap/proxy/command/internal/cmdinfo"
)

// MustDialRedis starts a redis-server for the test and connects to it.
func MustDialRedis(tb testing.TB) *cmdinfo.Conn {
	tb.Helper()
	r := testutil.MustStartRedis(tb)
	c, err := cmdinfo.Dial(r.Addr, 10*time.Second)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// MustGetKeys runs COMMAND GETKEYS args on c: the key names, or the error reply.
func MustGetKeys(tb testing.TB, c *cmdinfo.Conn, args [][]byte) ([]string, error) {
	tb.Helper()
	v, err := c.DoBytes(append([][]byte{[]byte("COMMAND"), []byte("GETKEYS")}, args...))
	if err != nil {
		if _, ok := err.(cmdinfo.Error); !ok {
			tb.Fatalf("COMMAND GETKEYS %q: %v", args, err)
		}
		return nil, err
	}
	arr, ok := v.([]any)
	if !ok {
		tb.Fatalf("COMMAND GETKEYS %q: unexpected reply %#v", args, v)
	}
	keys := make([]string, len(arr))
	for i, k := range arr {
		keys[i], _ = k.(string)
	}
	return keys, nil
}

// split turns "GET k" into args; a single space separates arguments, so two spaces make
// an empty argument.
func split(s string) [][]byte {
	var args [][]byte
	for _, a := range strings.Split(s, " ") {
		args = append(args, []byte(a))
	}
	return args
}

func strs(args [][]byte, idx []int) []string {
	out := make([]string, len(idx))
	for i, k := range idx {
		out[i] = string(args[k])
	}
	return out
}
