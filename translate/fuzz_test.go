package translate

import (
	"bytes"
	"testing"

	"hotswap/proxy/command"
	"hotswap/resp"
)

// FuzzHandlers runs arbitrary argument vectors through the translated commands over a
// keyspace holding one key of each type: no panic, and every reply is one valid RESP
// value in both protocols. Arguments are separated by NUL NUL in the fuzz input.
func FuzzHandlers(f *testing.F) {
	for _, seed := range []string{
		"SET\x00\x00k\x00\x00v\x00\x00EX\x00\x0010",
		"HSET\x00\x00h\x00\x00f\x00\x00v",
		"SADD\x00\x00s\x00\x00a\x00\x00b",
		"GETRANGE\x00\x00k\x00\x00-100\x00\x009223372036854775807",
		"SETRANGE\x00\x00k\x00\x0010\x00\x00x",
		"INCRBYFLOAT\x00\x00k\x00\x001e308",
		"HRANDFIELD\x00\x00h\x00\x00-5\x00\x00WITHVALUES",
		"SRANDMEMBER\x00\x00s\x00\x00-9223372036854775808",
		"SINTERCARD\x00\x002\x00\x00s\x00\x00h\x00\x00LIMIT\x00\x00-1",
		"HSCAN\x00\x00h\x00\x000\x00\x00MATCH\x00\x00[a-\x00\x00COUNT\x00\x001",
		"EXPIRE\x00\x00k\x00\x009223372036854775807\x00\x00GT",
		"COPY\x00\x00k\x00\x00s\x00\x00REPLACE",
		"SPOP\x00\x00s\x00\x000",
		"GETEX\x00\x00k\x00\x00PXAT\x00\x00-1",
	} {
		f.Add([]byte(seed))
	}
	names := map[string]bool{}
	for n := range Handlers() {
		names[n] = true
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		args := bytes.Split(in, []byte{0, 0})
		if len(args) == 0 || len(args) > 64 {
			return
		}
		// A random pick with a huge negative count builds a reply of up to 512 MB, as
		// Redis would; that is memory, not a bug, and it stalls the fuzzer.
		switch string(bytes.ToLower(args[0])) {
		case "srandmember", "hrandfield":
			for _, a := range args[1:] {
				if n, ok := command.ParseInt(a); ok && (n > 1e5 || n < -1e5) {
					return
				}
			}
		}
		for _, proto := range []int{2, 3} {
			m := newMemDB()
			m.maxValue = MaxItemBytes // as the engine: no 512 MB strings
			m.data["k"] = NewString([]byte("12"))
			h := NewHash()
			h.Hash["f"] = []byte("1.5")
			m.data["h"] = h
			s := NewSet()
			s.Set["a"], s.Set["b"] = struct{}{}, struct{}{}
			m.data["s"] = s
			out := m.Do(proto, args...)
			if bytes.HasPrefix(out, []byte("-hotswap: no handler")) {
				return
			}
			v, n, err := resp.Parse(out)
			if err != nil || n != len(out) {
				t.Fatalf("RESP%d %q: reply %q is not one RESP value (%v, %d of %d bytes)", proto, args, out, err, n, len(out))
			}
			_ = v
		}
	})
}
