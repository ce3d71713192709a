package translate

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"hotswap/proxy/command"
)

// The string and key tests compare the handlers with a real redis-server 7.0.15 through
// the differ (harness_test.go), in RESP2 and RESP3, byte for byte, except the replies
// that carry the current time (TTL, PTTL, EXPIRETIME, PEXPIRETIME), which are compared
// with a tolerance because the two servers read their clocks a few ms apart.

// kvEachProto runs fn in a subtest per protocol, each with its own redis-server.
func kvEachProto(t *testing.T, fn func(t *testing.T, d *differ)) {
	for _, proto := range []int{2, 3} {
		t.Run(fmt.Sprintf("RESP%d", proto), func(t *testing.T) {
			fn(t, mustDiffer(t, proto))
		})
	}
}

// kvPutHash creates a hash in both servers without the hash handlers (written apart):
// HSET on Redis, the value straight into the model.
func kvPutHash(d *differ, key string, fieldValues ...string) {
	d.tb.Helper()
	v := NewHash()
	for i := 0; i+1 < len(fieldValues); i += 2 {
		v.Hash[fieldValues[i]] = []byte(fieldValues[i+1])
	}
	d.mem.data[key] = v
	d.redis.Do("DEL", key)
	if got := d.redis.Do(append([]string{"HSET", key}, fieldValues...)...); got[0] != ':' {
		d.tb.Fatalf("HSET %q: %q", key, got)
	}
}

// kvPutSet is kvPutHash for a set (SADD).
func kvPutSet(d *differ, key string, members ...string) {
	d.tb.Helper()
	v := NewSet()
	for _, m := range members {
		v.Set[m] = struct{}{}
	}
	d.mem.data[key] = v
	d.redis.Do("DEL", key)
	if got := d.redis.Do(append([]string{"SADD", key}, members...)...); got[0] != ':' {
		d.tb.Fatalf("SADD %q: %q", key, got)
	}
}

// kvSameTime runs a command whose integer reply depends on the clock (TTL, PTTL,
// EXPIRETIME, PEXPIRETIME, or TTL-like replies of a fuzz run) and accepts replies that
// differ by at most tol; anything else (-1, -2, errors) must be identical.
func kvSameTime(d *differ, tol int64, args ...string) {
	d.tb.Helper()
	a, b := d.both(args...)
	if string(a) == string(b) {
		return
	}
	x, okA := kvInt(a)
	y, okB := kvInt(b)
	if okA && okB && x >= 0 && y >= 0 && x-y <= tol && y-x <= tol {
		return
	}
	d.tb.Errorf("RESP%d %s (±%d):\n redis: %q\n model: %q", d.proto, quote(args), tol, a, b)
}

func kvInt(raw []byte) (int64, bool) {
	if len(raw) < 4 || raw[0] != ':' {
		return 0, false
	}
	n, err := strconv.ParseInt(string(raw[1:len(raw)-2]), 10, 64)
	return n, err == nil
}

// kvCheckTTL compares TTL, PTTL, EXPIRETIME and PEXPIRETIME of key (tolerances 1 s and
// 100 ms).
func kvCheckTTL(d *differ, key string) {
	d.tb.Helper()
	kvSameTime(d, 1, "TTL", key)
	kvSameTime(d, 100, "PTTL", key)
	kvSameTime(d, 1, "EXPIRETIME", key)
	kvSameTime(d, 100, "PEXPIRETIME", key)
}

// kvState compares everything about key: its type, value (if a string) and expiry.
func kvState(d *differ, key string) {
	d.tb.Helper()
	d.same("TYPE", key)
	d.same("EXISTS", key)
	if v := d.mem.data[key]; v != nil && v.Kind == KindString {
		d.same("GET", key)
	}
	kvCheckTTL(d, key)
}

// kvReset empties both servers.
func kvReset(d *differ) {
	d.tb.Helper()
	d.redis.Do("FLUSHALL")
	d.mem.data = map[string]*Value{}
}

func future(sec int64) string { return strconv.FormatInt(time.Now().Unix()+sec, 10) }
func futureMs(ms int64) string {
	return strconv.FormatInt(time.Now().UnixMilli()+ms, 10)
}

func TestStrings_getSet(t *testing.T) {
	kvEachProto(t, func(t *testing.T, d *differ) {
		d.same("GET", "nokey")
		d.same("GET")
		d.same("SET", "k")
		d.same("SET", "k", "v")
		d.same("GET", "k")
		d.same("SET", "", "")
		d.same("GET", "")
		bin := "\x00\xff\xfe\r\n\x00é"
		d.same("SET", bin, bin)
		d.same("GET", bin)
		d.same("STRLEN", bin)
		d.same("SET", "big", strings.Repeat("x\x00", 50000))
		d.same("GET", "big")
		d.same("set", "k", "lower")
		d.same("GeT", "k")

		kvPutHash(d, "h", "f", "v")
		kvPutSet(d, "s", "a", "b")
		for _, k := range []string{"h", "s"} {
			d.same("GET", k)
			d.same("SET", k, "v", "GET")
			d.same("SET", k, "v", "NX", "GET")
			d.same("SET", k, "v", "XX", "GET", "EX", "10")
			d.same("SET", k, "v", "NX")
			d.same("TYPE", k)
			d.same("SET", k, "over") // SET replaces any kind
			d.same("TYPE", k)
			d.same("GET", k)
		}
		kvPutHash(d, "h", "f", "v")
		d.same("SET", "h", "v", "EX", "0", "GET") // the expire time is checked first
		d.same("SET", "h", "v", "EX", "x", "GET")
		d.same("SET", "h", "v", "BAD", "GET")
		d.same("SET", "h", "v", "XX", "KEEPTTL")
		d.same("TYPE", "h")
	})
}

// setOptions are the SET option tokens the combination test draws from.
func setOptions() [][]string {
	return [][]string{
		{"NX"}, {"XX"}, {"GET"}, {"KEEPTTL"}, {"EX", "100"}, {"PX", "100000"},
		{"EXAT", future(200)}, {"PXAT", futureMs(300000)}, {"PERSIST"},
	}
}

func TestStrings_setOptionCombinations(t *testing.T) {
	kvEachProto(t, func(t *testing.T, d *differ) {
		opts := setOptions()
		var combos [][]string
		for _, a := range opts {
			combos = append(combos, a)
			for _, b := range opts {
				combos = append(combos, append(append([]string{}, a...), b...))
				for _, c := range opts {
					combos = append(combos, append(append(append([]string{}, a...), b...), c...))
				}
			}
		}
		for i, combo := range combos {
			// Key states: missing, a string with a TTL, a string without, a hash.
			state := i % 4
			kvReset(d)
			switch state {
			case 1:
				d.same("SET", "k", "old", "EX", "5000")
			case 2:
				d.same("SET", "k", "old")
			case 3:
				kvPutHash(d, "k", "f", "v")
			}
			d.same(append([]string{"SET", "k", "new"}, combo...)...)
			kvState(d, "k")
		}
	})
}

func TestStrings_setErrors(t *testing.T) {
	kvEachProto(t, func(t *testing.T, d *differ) {
		d.same("SET", "k", "v", "EX")
		d.same("SET", "k", "v", "PX")
		d.same("SET", "k", "v", "EXAT")
		d.same("SET", "k", "v", "PXAT")
		d.same("SET", "k", "v", "NX", "XX")
		d.same("SET", "k", "v", "XX", "NX")
		d.same("SET", "k", "v", "NX", "NX")
		d.same("SET", "k", "v", "GET", "GET")
		d.same("SET", "k", "v", "EX", "10", "EX", "20")
		d.same("SET", "k", "v", "PX", "10000", "PX", "20000")
		kvCheckTTL(d, "k")
		d.same("SET", "k", "v", "EX", "10", "PX", "20")
		d.same("SET", "k", "v", "KEEPTTL", "EX", "10")
		d.same("SET", "k", "v", "EX", "10", "KEEPTTL")
		d.same("SET", "k", "v", "PERSIST")
		d.same("SET", "k", "v", "FOO")
		d.same("SET", "k", "v", "")
		d.same("SET", "k", "v", "nx\x00junk")
		d.same("SET", "k", "v", "keepttl\x00")
		d.same("SET", "k", "v", "eX", "10")
		d.same("SET", "k", "v", "Ex", "10")
		d.same("SET", "k", "v", "N")
		d.same("SET", "k", "v", "EXATT", "10")
		for _, opt := range []string{"EX", "PX", "EXAT", "PXAT"} {
			for _, n := range []string{
				"0", "-1", "-9223372036854775808", "abc", "1.5", " 1", "1 ", "01", "+1", "",
				"9223372036854775807", "9223372036854775808", "9223372036854775",
				"9223372036854776", "9223372036854775000", "9223372036000000000",
				"9223370000000000", "9223372036854775806", "\x001",
			} {
				d.same("SET", "k", "v", opt, n)
				kvCheckTTL(d, "k")
			}
		}
		d.same("SET", "k", "v", "EX", "0", "NX", "XX") // syntax is checked first
		d.same("SETEX", "k", "0", "v")
		d.same("SETEX", "k", "-5", "v")
		d.same("SETEX", "k", "x", "v")
		d.same("SETEX", "k", "9223372036854776", "v")
		d.same("SETEX", "k", "9223372036854775", "v")
		d.same("PSETEX", "k", "0", "v")
		d.same("PSETEX", "k", "9223372036854775807", "v")
		d.same("PSETEX", "k", "nope", "v")
		d.same("SETEX", "k", "10")
		d.same("PSETEX", "k", "10", "v", "x")
	})
}

func TestStrings_expiry(t *testing.T) {
	kvEachProto(t, func(t *testing.T, d *differ) {
		d.same("SET", "k", "v", "EX", "100")
		kvCheckTTL(d, "k")
		d.same("SET", "k", "v2") // SET drops the TTL
		kvCheckTTL(d, "k")
		d.same("SET", "k", "v3", "PX", "50000")
		d.same("SET", "k", "v4", "KEEPTTL")
		kvCheckTTL(d, "k")
		d.same("SET", "k", "v5", "XX", "KEEPTTL", "GET")
		kvState(d, "k")
		d.same("SET", "k", "v6", "EXAT", future(1000))
		kvState(d, "k")
		d.same("SET", "k", "v7", "PXAT", futureMs(1000000))
		kvState(d, "k")
		d.same("SET", "k", "v8", "EXAT", "1") // in the past: the key is gone
		kvState(d, "k")
		d.same("SET", "k", "v9", "PXAT", "100", "GET")
		kvState(d, "k")
		d.same("SET", "k", "v", "PXAT", "9223372036854775807")
		kvState(d, "k")
		d.same("SET", "k", "v", "EXAT", "9223372036854775")
		kvState(d, "k")
		d.same("SETEX", "k", "100", "v")
		kvState(d, "k")
		d.same("PSETEX", "k", "100000", "v")
		kvState(d, "k")
		d.same("SETNX", "k", "other")
		d.same("GETSET", "k", "new") // GETSET drops the TTL
		kvState(d, "k")
		d.same("SETEX", "k", "100", "5")
		d.same("INCR", "k")
		d.same("INCRBY", "k", "10")
		d.same("DECR", "k")
		d.same("DECRBY", "k", "3")
		d.same("INCRBYFLOAT", "k", "0.5")
		d.same("APPEND", "k", "xy")
		d.same("SETRANGE", "k", "1", "ab")
		kvState(d, "k") // all of them keep the TTL
		d.same("MSET", "k", "m", "k2", "m2")
		kvState(d, "k") // MSET drops it

		// Expired keys are missing keys for every command.
		expired := func() {
			d.same("SET", "e", "v", "PX", "1")
			d.same("SET", "f", "v", "PX", "1")
			time.Sleep(5 * time.Millisecond)
		}
		expired()
		d.same("GET", "e")
		d.same("MGET", "e", "f", "k")
		d.same("STRLEN", "e")
		d.same("GETRANGE", "e", "0", "-1")
		d.same("GETDEL", "e")
		expired()
		d.same("GETEX", "e", "PERSIST")
		d.same("GETSET", "e", "x")
		kvState(d, "e")
		expired()
		d.same("SETNX", "e", "x")
		kvState(d, "e")
		expired()
		d.same("SET", "e", "x", "NX", "GET")
		kvState(d, "e")
		expired()
		d.same("SET", "e", "x", "XX")
		d.same("SET", "e", "x", "KEEPTTL")
		kvState(d, "e")
		expired()
		d.same("APPEND", "e", "abc")
		kvState(d, "e")
		expired()
		d.same("INCR", "e")
		kvState(d, "e")
		expired()
		d.same("INCRBYFLOAT", "e", "1.5")
		kvState(d, "e")
		expired()
		d.same("SETRANGE", "e", "3", "x")
		kvState(d, "e")
		expired()
		d.same("MSETNX", "e", "1", "f", "2")
		kvState(d, "f")
	})
}

func TestStrings_getexGetdelGetset(t *testing.T) {
	kvEachProto(t, func(t *testing.T, d *differ) {
		d.same("GETEX", "k")
		d.same("GETEX", "k", "EX", "0") // missing key: nil before the time is checked
		d.same("GETEX", "k", "FOO")
		d.same("SET", "k", "v")
		d.same("GETEX", "k")
		for _, opts := range [][]string{
			{"EX", "100"}, {"PX", "100000"}, {"EXAT", future(100)}, {"PXAT", futureMs(100000)},
			{"PERSIST"}, {"EX", "10", "EX", "100"}, {"ex", "100"}, {"persist", "persist"},
		} {
			d.same(append([]string{"GETEX", "k"}, opts...)...)
			kvState(d, "k")
		}
		for _, opts := range [][]string{
			{"EX"}, {"NX"}, {"XX"}, {"GET"}, {"KEEPTTL"}, {"EX", "10", "PERSIST"},
			{"PERSIST", "EX", "10"}, {"EX", "10", "PX", "100"}, {"PXAT", "1", "EXAT", "1"},
			{"EX", "0"}, {"EX", "-1"}, {"PX", "abc"}, {"EX", "9223372036854776"},
			{"PX", "9223372036854775807"}, {"EXAT", "9223372036854776"}, {"FOO", "EX", "0"},
			{"EX", "0", "FOO"}, {"PERSIST", "FOO"},
		} {
			d.same(append([]string{"GETEX", "k"}, opts...)...)
			kvState(d, "k")
		}
		d.same("GETEX", "k", "EXAT", "1") // replies the value, then deletes the key
		kvState(d, "k")
		d.same("SET", "k", "v")
		d.same("GETEX", "k", "PXAT", strconv.FormatInt(time.Now().UnixMilli()-10, 10))
		kvState(d, "k")
		d.same("SET", "k", "v")
		d.same("GETEX", "k", "PXAT", "9223372036854775807")
		kvState(d, "k")

		kvPutHash(d, "h", "f", "v")
		kvPutSet(d, "s", "m")
		for _, k := range []string{"h", "s"} {
			d.same("GETEX", k)
			d.same("GETEX", k, "EX", "0") // WRONGTYPE before the time
			d.same("GETEX", k, "BAD")
			d.same("GETDEL", k)
			d.same("GETSET", k, "v")
			d.same("TYPE", k)
		}

		d.same("GETDEL", "nokey")
		d.same("SET", "k", "\x00bin")
		d.same("GETDEL", "k")
		d.same("GETDEL", "k")
		d.same("EXISTS", "k")
		d.same("GETSET", "k", "a")
		d.same("GETSET", "k", "")
		d.same("GETSET", "k", "\xff")
		d.same("GET", "k")
	})
}

func TestStrings_multi(t *testing.T) {
	kvEachProto(t, func(t *testing.T, d *differ) {
		kvPutHash(d, "h", "f", "v")
		kvPutSet(d, "s", "m")
		d.same("MSET", "a", "1", "b", "", "c", "\x00")
		d.same("MGET", "a", "b", "c", "h", "s", "nokey", "a")
		d.same("MGET", "nokey")
		d.same("MSET", "a")
		d.same("MSET", "a", "1", "b")
		d.same("MSETNX", "a", "1", "b")
		d.same("MSET", "a", "1", "a", "2")
		d.same("GET", "a")
		d.same("MSET", "h", "now a string", "x", "y")
		d.same("TYPE", "h")
		d.same("GET", "h")
		d.same("MSETNX", "n1", "1", "n2", "2")
		d.same("MGET", "n1", "n2")
		d.same("MSETNX", "n3", "1", "n1", "2")
		d.same("EXISTS", "n3")
		d.same("MSETNX", "n4", "1", "n4", "2")
		d.same("GET", "n4")
		d.same("MSETNX", "s", "1")
		d.same("TYPE", "s")
		d.same("SET", "t", "v", "EX", "100")
		d.same("MSETNX", "t", "x")
		kvState(d, "t")
	})
}

func TestStrings_appendStrlenRange(t *testing.T) {
	kvEachProto(t, func(t *testing.T, d *differ) {
		kvPutHash(d, "h", "f", "v")
		kvPutSet(d, "s", "m")
		d.same("APPEND", "k", "")
		d.same("EXISTS", "k")
		d.same("GET", "k")
		d.same("APPEND", "k", "Hello")
		d.same("APPEND", "k", " \x00World\xff")
		d.same("GET", "k")
		d.same("STRLEN", "k")
		d.same("STRLEN", "nokey")
		d.same("APPEND", "h", "x")
		d.same("STRLEN", "h")
		d.same("STRLEN", "s")
		d.same("SET", "n", "12345")
		d.same("APPEND", "n", "6")
		d.same("INCR", "n")

		d.same("SET", "r", "This is a string")
		d.same("SET", "e", "")
		d.same("SET", "i", "-1234567890")
		idx := []string{"0", "1", "3", "-1", "-2", "-3", "-16", "-17", "-100", "15", "16",
			"100", "9223372036854775807", "-9223372036854775808"}
		for _, k := range []string{"r", "e", "i", "nokey"} {
			for _, a := range idx {
				for _, b := range idx {
					d.same("GETRANGE", k, a, b)
				}
			}
		}
		d.same("SUBSTR", "r", "2", "5")
		d.same("SUBSTR", "r", "x", "5")
		for _, bad := range [][]string{{"a", "1"}, {"1", "b"}, {"1.0", "2"}, {"01", "2"},
			{"9223372036854775808", "1"}, {"", "1"}} {
			d.same("GETRANGE", "r", bad[0], bad[1])
			d.same("GETRANGE", "h", bad[0], bad[1]) // the indexes are checked first
		}
		d.same("GETRANGE", "h", "0", "1")
		d.same("GETRANGE", "s", "0", "-1")
		d.same("GETRANGE", "r", "0")
	})
}

func TestStrings_setrange(t *testing.T) {
	kvEachProto(t, func(t *testing.T, d *differ) {
		kvPutHash(d, "h", "f", "v")
		d.same("SETRANGE", "k", "0", "")
		d.same("EXISTS", "k")
		d.same("SETRANGE", "k", "5", "")
		d.same("EXISTS", "k")
		d.same("SETRANGE", "k", "5", "ab")
		d.same("GET", "k")
		d.same("SETRANGE", "k", "0", "xyz")
		d.same("GET", "k")
		d.same("SETRANGE", "k", "6", "123456")
		d.same("GET", "k")
		d.same("SETRANGE", "k", "3", "")
		d.same("SETRANGE", "k", "100", "")
		d.same("GET", "k")
		d.same("SETRANGE", "k", "-1", "x")
		d.same("SETRANGE", "k", "-1", "")
		d.same("SETRANGE", "k", "x", "x")
		d.same("SETRANGE", "k", "1.5", "x")
		d.same("SETRANGE", "k", "9223372036854775808", "x")
		d.same("SETRANGE", "k", "536870911", "xy")
		d.same("SETRANGE", "k", "536870912", "")
		d.same("SETRANGE", "k", "9223372036854775807", "x")
		d.same("SETRANGE", "new", "536870912", "x")
		d.same("SETRANGE", "h", "0", "x")
		d.same("SETRANGE", "h", "0", "")
		d.same("SETRANGE", "h", "-1", "x")
		d.same("SETRANGE", "h", "x", "x")
		d.same("SET", "n", "123")
		d.same("SETRANGE", "n", "1", "\x00\xff")
		d.same("GET", "n")
		d.same("SETRANGE", "n2", "2", "\x00")
		d.same("GET", "n2")
	})
}

func TestStrings_incrDecr(t *testing.T) {
	kvEachProto(t, func(t *testing.T, d *differ) {
		kvPutHash(d, "h", "f", "1")
		kvPutSet(d, "s", "1")
		d.same("INCR", "c")
		d.same("INCR", "c")
		d.same("DECR", "c")
		d.same("DECR", "d")
		d.same("INCRBY", "c", "100")
		d.same("INCRBY", "c", "-1000")
		d.same("DECRBY", "c", "-5")
		d.same("DECRBY", "c", "0")
		d.same("GET", "c")
		for _, v := range []string{"", " 1", "1 ", "01", "+1", "-0", "1.0", "0x10", "abc",
			"9223372036854775807", "-9223372036854775808", "9223372036854775808",
			"-9223372036854775809", "00", "12345678901234567890", "\x001", "1\x00"} {
			d.same("SET", "v", v)
			d.same("INCR", "v")
			d.same("DECR", "v")
			d.same("INCRBY", "v", "1")
			d.same("INCRBY", "v", "-1")
			d.same("DECRBY", "v", "1")
			d.same("DECRBY", "v", "-1")
			d.same("GET", "v")
			d.same("INCRBY", "w", v)
			d.same("DECRBY", "w", v)
		}
		d.same("SET", "m", "9223372036854775807")
		d.same("INCR", "m")
		d.same("INCRBY", "m", "0")
		d.same("DECRBY", "m", "-1")
		d.same("DECRBY", "m", "9223372036854775807")
		d.same("DECR", "m")
		d.same("DECR", "m")
		d.same("DECRBY", "m", "-9223372036854775807")
		d.same("DECRBY", "m", "-9223372036854775808")
		d.same("DECRBY", "m", "9223372036854775807")
		d.same("SET", "m", "-9223372036854775808")
		d.same("DECR", "m")
		d.same("INCRBY", "m", "-1")
		d.same("INCRBY", "m", "9223372036854775807")
		d.same("GET", "m")
		for _, k := range []string{"h", "s"} {
			d.same("INCR", k)
			d.same("DECR", k)
			d.same("INCRBY", k, "2")
			d.same("INCRBY", k, "x") // the increment is checked first
			d.same("DECRBY", k, "2")
			d.same("DECRBY", k, "-9223372036854775808")
			d.same("INCRBYFLOAT", k, "1.5")
			d.same("INCRBYFLOAT", k, "x")
		}
	})
}

func TestStrings_incrbyfloat(t *testing.T) {
	kvEachProto(t, func(t *testing.T, d *differ) {
		d.same("INCRBYFLOAT", "f", "0.1")
		d.same("INCRBYFLOAT", "f", "0.2")
		d.same("GET", "f")
		d.same("INCRBYFLOAT", "f", "1e-17")
		d.same("INCRBYFLOAT", "f", "5.0e3")
		d.same("INCRBYFLOAT", "f", "-5000.3")
		d.same("INCRBYFLOAT", "f", "3.0e300")
		d.same("INCRBYFLOAT", "f", "-3.0e300")
		d.same("INCRBYFLOAT", "f", "1e4931")
		d.same("INCRBYFLOAT", "f", "1.18973149535723176502e+4932")
		d.same("INCRBYFLOAT", "f", "-1e4931")
		d.same("INCRBYFLOAT", "f", "inf")
		d.same("INCRBYFLOAT", "f", "nan")
		d.same("INCRBYFLOAT", "f", " 1")
		d.same("INCRBYFLOAT", "f", "")
		d.same("GET", "f")
		for _, v := range floatCases {
			d.same("SET", "g", v)
			d.same("INCRBYFLOAT", "g", "1.5")
			d.same("GET", "g")
			d.same("INCRBYFLOAT", "z", v)
		}
	})
}

// kvFuzzCommand generates a random command over a few keys: every string and key
// command, valid and invalid arguments. Relative times are long or negative so nothing
// expires between the two servers' executions.
func kvFuzzCommand(rng *rand.Rand) (args []string, timeDependent bool) {
	keys := []string{"a", "b", "c", "\x00k", "h", "s"}
	key := func() string { return keys[rng.IntN(len(keys))] }
	vals := []string{"", "0", "1", "-1", "10", "1.5", "abc", "\x00\xff", "9223372036854775807",
		"-9223372036854775808", "0.1", "1e3", " 2", "007", "inf"}
	val := func() string { return vals[rng.IntN(len(vals))] }
	ints := []string{"0", "1", "-1", "2", "5", "-5", "100", "abc", "", "9223372036854775807",
		"-9223372036854775808", "1.0"}
	num := func() string { return ints[rng.IntN(len(ints))] }
	// Relative times (EX, PX, EXPIRE, SETEX) are long, zero or negative; absolute times
	// (EXAT, PXAT, EXPIREAT) far in the past or the future: nothing may expire between
	// the two executions of a command.
	secs := func() string {
		return []string{"1000", "5000", "-10", "0", "abc", "-1", "9223372036854775807"}[rng.IntN(7)]
	}
	ms := func() string {
		return []string{"1000000", "5000000", "-10", "0", "abc", "-1", "9223372036854775807"}[rng.IntN(7)]
	}
	atSecs := func() string {
		return []string{"1000", "-10", "0", "abc", future(3000), future(5000), "9223372036854775"}[rng.IntN(7)]
	}
	atMs := func() string {
		return []string{"1000000", "-10", "0", "abc", futureMs(3000000), futureMs(5000000), "9223372036854775807"}[rng.IntN(7)]
	}
	setOpt := func() []string {
		switch rng.IntN(10) {
		case 0:
			return []string{"NX"}
		case 1:
			return []string{"XX"}
		case 2:
			return []string{"GET"}
		case 3:
			return []string{"KEEPTTL"}
		case 4:
			return []string{"EX", secs()}
		case 5:
			return []string{"PX", ms()}
		case 6:
			return []string{"EXAT", atSecs()}
		case 7:
			return []string{"PXAT", atMs()}
		case 8:
			return []string{"PERSIST"}
		}
		return []string{"BOGUS"}
	}
	many := func(f func() []string) []string {
		var out []string
		for n := rng.IntN(3); n > 0; n-- {
			out = append(out, f()...)
		}
		return out
	}
	expOpt := func() []string {
		return [][]string{{"NX"}, {"XX"}, {"GT"}, {"LT"}, {"nx"}, {"ZZ"}}[rng.IntN(6)]
	}
	switch rng.IntN(34) {
	case 0:
		return []string{"GET", key()}, false
	case 1, 2:
		return append([]string{"SET", key(), val()}, many(setOpt)...), false
	case 3:
		return []string{"SETNX", key(), val()}, false
	case 4:
		return []string{"SETEX", key(), secs(), val()}, false
	case 5:
		return []string{"PSETEX", key(), ms(), val()}, false
	case 6:
		return []string{"GETSET", key(), val()}, false
	case 7:
		return []string{"GETDEL", key()}, false
	case 8:
		return append([]string{"GETEX", key()}, many(setOpt)...), false
	case 9:
		return []string{"MGET", key(), key(), key()}, false
	case 10:
		return []string{"MSET", key(), val(), key(), val()}, false
	case 11:
		return []string{"MSETNX", key(), val(), key(), val()}, false
	case 12:
		return []string{"APPEND", key(), val()}, false
	case 13:
		return []string{"STRLEN", key()}, false
	case 14:
		return []string{"GETRANGE", key(), num(), num()}, false
	case 15:
		return []string{"SETRANGE", key(), []string{"0", "1", "3", "-1", "x", "20"}[rng.IntN(6)], val()}, false
	case 16:
		return []string{"INCR", key()}, false
	case 17:
		return []string{"DECRBY", key(), num()}, false
	case 18:
		return []string{"INCRBY", key(), num()}, false
	case 19:
		return []string{"INCRBYFLOAT", key(), val()}, false
	case 20:
		return []string{"DEL", key(), key()}, false
	case 21:
		return []string{"EXISTS", key(), key()}, false
	case 22:
		return []string{"TYPE", key()}, false
	case 23:
		return append([]string{"EXPIRE", key(), secs()}, many(expOpt)...), false
	case 24:
		return append([]string{"PEXPIRE", key(), ms()}, many(expOpt)...), false
	case 25:
		return append([]string{"EXPIREAT", key(), atSecs()}, many(expOpt)...), false
	case 26:
		return append([]string{"PEXPIREAT", key(), atMs()}, many(expOpt)...), false
	case 27:
		return []string{[]string{"TTL", "PTTL", "EXPIRETIME", "PEXPIRETIME"}[rng.IntN(4)], key()}, true
	case 28:
		return []string{"PERSIST", key()}, false
	case 29:
		return []string{"RENAME", key(), key()}, false
	case 30:
		return []string{"RENAMENX", key(), key()}, false
	case 31:
		return append([]string{"COPY", key(), key()}, []string{"", "REPLACE"}[rng.IntN(2)]), false
	case 32:
		return []string{"TOUCH", key(), key()}, false
	}
	return []string{"UNLINK", key()}, false
}

func TestStringsKeys_fuzz(t *testing.T) {
	kvEachProto(t, func(t *testing.T, d *differ) {
		rng := rand.New(rand.NewPCG(uint64(d.proto), 42))
		for i := 0; i < 4000; i++ {
			if i%500 == 0 {
				kvReset(d)
				kvPutHash(d, "h", "f", "v")
				kvPutSet(d, "s", "m")
			}
			args, timed := kvFuzzCommand(rng)
			if len(args) > 3 && args[0] == "COPY" && args[3] == "" {
				args = args[:3]
			}
			if timed {
				tol := int64(100)
				if args[0] == "TTL" || args[0] == "EXPIRETIME" {
					tol = 1
				}
				kvSameTime(d, tol, args...)
				continue
			}
			d.same(args...)
			if t.Failed() {
				t.Fatalf("stopped at command %d", i)
			}
		}
		for _, k := range []string{"a", "b", "c", "\x00k", "h", "s"} {
			kvState(d, k)
		}
	})
}

// TestStrings_handlerNames checks that every handler is listed under its command
// table name (command.Lookup(args).Name).
func TestStrings_handlerNames(t *testing.T) {
	for _, list := range [][]handlerEntry{stringHandlers, keyHandlers} {
		for _, h := range list {
			info := command.Lookup([][]byte{[]byte(strings.ToUpper(h.name))})
			if info == nil || info.Name != h.name {
				t.Errorf("handler %q: command table has %+v", h.name, info)
			}
		}
	}
}
