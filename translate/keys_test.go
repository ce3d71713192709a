package translate

import (
	"strconv"
	"testing"
	"time"
)

// Helpers (kvEachProto, kvPutHash, kvSameTime, kvState, ...) are in strings_test.go.

func TestKeys_delExistsTypeTouch(t *testing.T) {
	kvEachProto(t, func(t *testing.T, d *differ) {
		kvPutHash(d, "h", "f", "v")
		kvPutSet(d, "s", "a", "b")
		d.same("SET", "str", "v")
		d.same("SET", "", "empty key")
		d.same("SET", "\x00\xff", "binary key")
		for _, k := range []string{"h", "s", "str", "", "\x00\xff", "nokey"} {
			d.same("TYPE", k)
			d.same("EXISTS", k)
			d.same("TOUCH", k)
		}
		d.same("EXISTS", "h", "h", "s", "nokey", "str", "str", "str")
		d.same("TOUCH", "h", "h", "s", "nokey", "str")
		d.same("EXISTS")
		d.same("DEL")
		d.same("TYPE")
		d.same("TYPE", "a", "b")
		d.same("DEL", "nokey")
		d.same("DEL", "h", "h", "nokey", "s")
		d.same("EXISTS", "h", "s")
		d.same("TYPE", "h")
		d.same("UNLINK", "str", "str", "", "\x00\xff")
		d.same("EXISTS", "str", "", "\x00\xff")
		d.same("UNLINK", "str")
		d.same("set", "x", "1")
		d.same("del", "x")

		d.same("SET", "e", "v", "PX", "1")
		kvPutHash(d, "eh", "f", "v")
		d.same("PEXPIRE", "eh", "1")
		time.Sleep(5 * time.Millisecond)
		d.same("EXISTS", "e", "eh")
		d.same("TYPE", "e")
		d.same("TYPE", "eh")
		d.same("TOUCH", "e", "eh")
		d.same("DEL", "e", "eh")
	})
}

func TestKeys_expire(t *testing.T) {
	kvEachProto(t, func(t *testing.T, d *differ) {
		opts := [][]string{{"NX"}, {"XX"}, {"GT"}, {"LT"}, {"nx"}, {"Gt"}}
		var combos [][]string
		combos = append(combos, nil)
		for _, a := range opts {
			combos = append(combos, a)
			for _, b := range opts {
				combos = append(combos, append(append([]string{}, a...), b...))
			}
		}
		combos = append(combos, []string{"NX", "GT", "LT"}, []string{"XX", "GT", "XX"},
			[]string{"FOO"}, []string{"NX", "FOO"}, []string{"GT", "LT", "FOO"},
			[]string{"nx\x00junk"}, []string{"bad\r\nopt"}, []string{"bad\x00hidden"}, []string{""})
		times := map[string][]string{
			"EXPIRE":    {"100", "5000", "-1", "0"},
			"PEXPIRE":   {"100000", "5000000", "-1"},
			"EXPIREAT":  {future(100), future(5000), "1", "0"},
			"PEXPIREAT": {futureMs(100000), futureMs(5000000), "100"},
		}
		i := 0
		for cmd, ts := range times {
			for _, when := range ts {
				for _, combo := range combos {
					// Key states: missing, no TTL, TTL 1000 s, a hash with TTL 1000 s, a set.
					i++
					kvReset(d)
					switch i % 5 {
					case 1:
						d.same("SET", "k", "v")
					case 2:
						d.same("SET", "k", "v", "EX", "1000")
					case 3:
						kvPutHash(d, "k", "f", "v")
						d.same("EXPIRE", "k", "1000")
					case 4:
						kvPutSet(d, "k", "m")
					}
					d.same(append([]string{cmd, "k", when}, combo...)...)
					kvState(d, "k")
				}
			}
		}
	})
}

func TestKeys_expireErrors(t *testing.T) {
	kvEachProto(t, func(t *testing.T, d *differ) {
		d.same("SET", "k", "v")
		for _, cmd := range []string{"EXPIRE", "PEXPIRE", "EXPIREAT", "PEXPIREAT"} {
			for _, n := range []string{
				"abc", "", " 1", "1.5", "01", "+5", "9223372036854775807", "-9223372036854775808",
				"9223372036854775808", "9223372036854775", "9223372036854776", "-9223372036854775",
				"-9223372036854776", "9223372036854775000", "9223372036000000000", "9223370000000000000",
			} {
				d.same(cmd, "k", n)
				kvState(d, "k")
				d.same("SET", "k", "v")
				d.same(cmd, "nokey", n)
				d.same(cmd, "k", n, "FOO") // options are checked before the time
				d.same(cmd, "k", n, "NX", "XX")
			}
			d.same(cmd, "k")
			d.same(cmd)
		}
		d.same("PEXPIREAT", "k", "9223372036854775807")
		kvState(d, "k")
		d.same("EXPIREAT", "k", "9223372036854775")
		kvState(d, "k")
		d.same("EXPIRE", "k", "9223372036854775", "GT")
		kvState(d, "k")
		d.same("EXPIRE", "k", "-9223372036854775")
		kvState(d, "k")
	})
}

func TestKeys_ttlPersist(t *testing.T) {
	kvEachProto(t, func(t *testing.T, d *differ) {
		kvCheckTTL(d, "nokey")
		d.same("SET", "k", "v")
		kvCheckTTL(d, "k")
		d.same("PERSIST", "k")
		d.same("PERSIST", "nokey")
		d.same("EXPIRE", "k", "100")
		kvCheckTTL(d, "k")
		d.same("PEXPIRE", "k", "1499")
		kvCheckTTL(d, "k")
		d.same("PEXPIRE", "k", "2500")
		kvCheckTTL(d, "k")
		d.same("PERSIST", "k")
		kvCheckTTL(d, "k")
		d.same("PERSIST", "k")
		kvPutHash(d, "h", "f", "v")
		kvPutSet(d, "s", "m")
		for _, k := range []string{"h", "s"} {
			kvCheckTTL(d, k)
			d.same("PEXPIRE", k, "100000")
			kvCheckTTL(d, k)
			d.same("PERSIST", k)
			kvCheckTTL(d, k)
		}
		d.same("PEXPIREAT", "k", "9223372036854775807")
		kvCheckTTL(d, "k")
		d.same("TTL")
		d.same("PTTL", "a", "b")
		d.same("EXPIRETIME")
		d.same("PERSIST")

		d.same("SET", "e", "v", "PX", "2")
		time.Sleep(5 * time.Millisecond)
		kvCheckTTL(d, "e")
		d.same("PERSIST", "e")
		d.same("EXPIRE", "e", "100")
	})
}

func TestKeys_rename(t *testing.T) {
	kvEachProto(t, func(t *testing.T, d *differ) {
		d.same("RENAME", "nokey", "x")
		d.same("RENAMENX", "nokey", "x")
		d.same("RENAME", "nokey", "nokey")
		d.same("RENAMENX", "nokey", "nokey")
		d.same("SET", "a", "1", "EX", "100")
		d.same("RENAME", "a", "a")
		d.same("RENAMENX", "a", "a")
		kvState(d, "a")
		d.same("RENAME", "a", "b") // the TTL moves with the value
		kvState(d, "a")
		kvState(d, "b")
		d.same("SET", "c", "3")
		d.same("RENAMENX", "b", "c")
		kvState(d, "b")
		kvState(d, "c")
		d.same("RENAME", "c", "b") // overwrites b, and b's TTL with c's none
		kvState(d, "b")
		kvState(d, "c")
		d.same("RENAMENX", "b", "\x00new\xff")
		kvState(d, "b")
		kvState(d, "\x00new\xff")
		kvPutHash(d, "h", "f", "v")
		kvPutSet(d, "s", "m")
		d.same("PEXPIRE", "s", "100000")
		d.same("RENAME", "h", "\x00new\xff") // a string replaced by a hash
		d.same("TYPE", "\x00new\xff")
		d.same("TYPE", "h")
		d.same("RENAMENX", "s", "h")
		d.same("TYPE", "h")
		kvCheckTTL(d, "h")
		d.same("RENAME", "h", "\x00new\xff")
		d.same("TYPE", "\x00new\xff")
		kvCheckTTL(d, "\x00new\xff")
		d.same("RENAME", "x")
		d.same("RENAME", "x", "y", "z")

		d.same("SET", "e", "v", "PX", "1")
		d.same("SET", "f", "v")
		time.Sleep(5 * time.Millisecond)
		d.same("RENAME", "e", "f")
		d.same("RENAMENX", "f", "e") // e expired: it is free
		kvState(d, "e")
		kvState(d, "f")
	})
}

func TestKeys_copy(t *testing.T) {
	kvEachProto(t, func(t *testing.T, d *differ) {
		d.same("COPY", "nokey", "x")
		d.same("COPY", "nokey", "nokey")
		d.same("SET", "a", "\x00v", "EX", "100")
		d.same("COPY", "a", "a")
		d.same("COPY", "a", "a", "REPLACE")
		d.same("COPY", "a", "b") // the TTL is copied
		kvState(d, "a")
		kvState(d, "b")
		d.same("SET", "c", "3")
		d.same("COPY", "c", "b")
		kvState(d, "b")
		d.same("COPY", "c", "b", "REPLACE")
		d.same("COPY", "c", "b", "replace", "REPLACE")
		kvState(d, "b")
		d.same("APPEND", "b", "x") // the copy is independent
		d.same("GET", "c")
		kvPutHash(d, "h", "f", "v", "g", "w")
		kvPutSet(d, "s", "m", "n")
		d.same("COPY", "h", "h2")
		d.same("COPY", "s", "s2")
		d.same("COPY", "h", "b", "REPLACE")
		d.same("TYPE", "h2")
		d.same("TYPE", "s2")
		d.same("TYPE", "b")
		d.same("COPY", "a", "x", "FOO")
		d.same("COPY", "a", "x", "DB")
		d.same("COPY", "a", "x", "DB", "abc")
		d.same("COPY", "a", "x", "DB", "2147483648")
		d.same("COPY", "a", "x", "DB", "1.5")
		d.same("COPY", "a", "x", "REPLACE", "DB")
		d.same("COPY", "a", "x", "DB", "abc", "REPLACE")
		d.same("COPY", "a", "x", "replace\x00x")
		d.same("COPY", "a")
		d.same("EXISTS", "x")
		// Model only: a well-formed DB option is refused (Redis would copy).
		for _, args := range [][]string{
			{"COPY", "a", "x", "DB", "0"}, {"COPY", "a", "x", "DB", "1"},
			{"COPY", "a", "a", "DB", "0"}, {"COPY", "a", "x", "REPLACE", "DB", "-1"},
			{"COPY", "nokey", "x", "DB", "99"}, {"COPY", "a", "x", "db", "3", "REPLACE"},
		} {
			got := d.mem.Do(d.proto, toBytes(args)...)
			if want := "-" + errCopyDB + "\r\n"; string(got) != want {
				t.Errorf("%s: got %q, want %q", quote(args), got, want)
			}
		}
		// Redis' errors still win over it: a syntax error after the DB option.
		d.same("COPY", "a", "x", "DB", "0", "FOO")

		d.same("SET", "e", "v", "PX", "1")
		time.Sleep(5 * time.Millisecond)
		d.same("COPY", "e", "f")
		d.same("COPY", "a", "e")
		kvState(d, "e")
	})
}

func toBytes(args []string) [][]byte {
	out := make([][]byte, len(args))
	for i, a := range args {
		out[i] = []byte(a)
	}
	return out
}

// TestKeys_expireTimes checks the reply of TTL-like commands around second boundaries
// (TTL rounds to the nearest second).
func TestKeys_expireTimes(t *testing.T) {
	kvEachProto(t, func(t *testing.T, d *differ) {
		for _, ms := range []int64{499, 500, 501, 1499, 1500, 100000} {
			d.same("SET", "k", "v", "PX", strconv.FormatInt(ms, 10))
			kvSameTime(d, 100, "PTTL", "k")
			kvSameTime(d, 1, "TTL", "k")
		}
	})
}
