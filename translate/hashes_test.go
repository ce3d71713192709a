package translate

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"hotswap/resp"
)

// The hash tests drive the differ (harness_test.go): every command runs on a real
// redis-server and on the handlers, and the raw replies must be the same bytes. Random
// picks are checked by rules (membership, count, distinctness) instead. The helpers
// here (hs*) are shared with sets_test.go.

// hsEachProto runs fn against a fresh redis-server and model in RESP2 and in RESP3.
func hsEachProto(t *testing.T, fn func(t *testing.T, d *differ)) {
	for _, proto := range []int{2, 3} {
		t.Run(fmt.Sprintf("RESP%d", proto), func(t *testing.T) { fn(t, mustDiffer(t, proto)) })
	}
}

// hsPutString creates a string key in both, without going through SET's handler.
func hsPutString(d *differ, key, val string) {
	d.tb.Helper()
	d.mem.data[key] = NewString([]byte(val))
	if got := d.redis.Do("SET", key, val); string(got) != "+OK\r\n" {
		d.tb.Fatalf("SET %q: %q", key, got)
	}
}

// hsPutExpired makes key an expired key of the given kind in both: an item whose expiry
// has passed in the model, a PX 1 key in Redis (the caller sleeps a few ms after).
func hsPutExpired(d *differ, key string, kind Kind) {
	d.tb.Helper()
	var v *Value
	var create []string
	switch kind {
	case KindString:
		v, create = NewString([]byte("old")), []string{"SET", key, "old"}
	case KindHash:
		v, create = NewHash(), []string{"HSET", key, "old", "1", "f", "old"}
		v.Hash["old"], v.Hash["f"] = []byte("1"), []byte("old")
	case KindSet:
		v, create = NewSet(), []string{"SADD", key, "old", "m"}
		v.Set["old"], v.Set["m"] = struct{}{}, struct{}{}
	}
	v.ExpireAt = time.Now().UnixMilli() - 1
	d.mem.data[key] = v
	d.redis.Do(create...)
	if got := d.redis.Do("PEXPIRE", key, "1"); string(got) != ":1\r\n" {
		d.tb.Fatalf("PEXPIRE %q: %q", key, got)
	}
}

// hsExpireAt gives key the expiry ms (Unix milliseconds) in both.
func hsExpireAt(d *differ, key string, ms int64) {
	d.tb.Helper()
	v := d.mem.data[key]
	if v == nil {
		d.tb.Fatalf("hsExpireAt: no key %q in the model", key)
	}
	v.ExpireAt = ms
	if got := d.redis.Do("PEXPIREAT", key, strconv.FormatInt(ms, 10)); string(got) != ":1\r\n" {
		d.tb.Fatalf("PEXPIREAT %q: %q", key, got)
	}
}

// hsSameExpire checks that key has the same expiry in both: Redis' PEXPIRETIME against
// the model's ExpireAt (-2 no key, -1 no expiry).
func hsSameExpire(d *differ, key string) {
	d.tb.Helper()
	want := string(d.redis.Do("PEXPIRETIME", key))
	got := ":-2\r\n"
	if v := d.mem.data[key]; v != nil && (v.ExpireAt == 0 || v.ExpireAt > time.Now().UnixMilli()) {
		got = ":-1\r\n"
		if v.ExpireAt != 0 {
			got = ":" + strconv.FormatInt(v.ExpireAt, 10) + "\r\n"
		}
	}
	if got != want {
		d.tb.Errorf("expiry of %q: redis %q, model %q", key, want, got)
	}
}

// hsSameState checks that key holds the same value in both, through the raw client
// (TYPE, then HGETALL or SMEMBERS or GET) and the model's data.
func hsSameState(d *differ, key string) {
	d.tb.Helper()
	typ := string(d.redis.Do("TYPE", key))
	v := d.mem.data[key]
	if v != nil && v.ExpireAt != 0 && v.ExpireAt <= time.Now().UnixMilli() {
		v = nil // the engine reads an expired item as no key
	}
	var got []string
	var want []string
	switch typ {
	case "+none\r\n":
		if v != nil {
			d.tb.Errorf("key %q: no key in redis, model has %v", key, v.Kind)
		}
		return
	case "+hash\r\n":
		want = hsElems(d, d.redis.Do("HGETALL", key), 2)
		if v != nil && v.Kind == KindHash {
			for f, val := range v.Hash {
				got = append(got, f+"\x00="+string(val))
			}
		}
	case "+set\r\n":
		want = hsElems(d, d.redis.Do("SMEMBERS", key), 1)
		if v != nil && v.Kind == KindSet {
			for m := range v.Set {
				got = append(got, m)
			}
		}
	case "+string\r\n":
		want = []string{string(d.redis.Do("GET", key))}
		if v != nil && v.Kind == KindString {
			got = []string{string(resp.AppendBulk(nil, v.Str))}
		}
	default:
		d.tb.Fatalf("key %q: unexpected type %q", key, typ)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		d.tb.Errorf("key %q:\n redis: %q\n model: %q", key, want, got)
	}
	hsSameExpire(d, key)
}

// hsElems returns the elements of an array/set/map reply, sorted; with step 2 (field,
// value pairs, flat or as a RESP3 map) each pair is one string "field\x00=value".
func hsElems(d *differ, raw []byte, step int) []string {
	d.tb.Helper()
	v, _, err := resp.Parse(raw)
	if err != nil {
		d.tb.Fatalf("parse %q: %v", raw, err)
	}
	var out []string
	for i := 0; i+step <= len(v.Elems); i += step {
		s := string(v.Elems[i].Str)
		if step == 2 {
			s += "\x00=" + string(v.Elems[i+1].Str)
		}
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// hsSameScan compares an HSCAN/SSCAN reply that Redis gives in one page: the cursor
// exactly, the elements as a multiset (field/value pairs when pairs).
func hsSameScan(d *differ, pairs bool, args ...string) {
	d.tb.Helper()
	a, b := d.both(args...)
	if hsScanKey(d, a, pairs) != hsScanKey(d, b, pairs) {
		d.tb.Errorf("RESP%d %s (scan):\n redis: %q\n model: %q", d.proto, quote(args), a, b)
	}
}

func hsScanKey(d *differ, raw []byte, pairs bool) string {
	d.tb.Helper()
	v, _, err := resp.Parse(raw)
	if err != nil {
		d.tb.Fatalf("parse %q: %v", raw, err)
	}
	if v.Type != '*' || len(v.Elems) != 2 || v.Elems[1].Type != '*' {
		return string(raw) // errors and anything unexpected compare as bytes
	}
	step := 1
	if pairs {
		step = 2
	}
	inner := resp.AppendArrayHeader(nil, len(v.Elems[1].Elems))
	return fmt.Sprintf("%q %q %q", resp.AppendValue(nil, v.Elems[0]), inner, hsElems(d, resp.AppendValue(nil, v.Elems[1]), step))
}

// hsScanLoopSame scans key in Redis with the given options until cursor 0 and checks
// that the model's single page (cursor 0) holds the same elements: what a client that
// loops over the cursor sees. scanCmd is HSCAN or SSCAN.
func hsScanLoopSame(d *differ, scanCmd, key string, opts ...string) {
	d.tb.Helper()
	step := 1
	if strings.EqualFold(scanCmd, "HSCAN") {
		step = 2
	}
	seen := map[string]bool{}
	cursor := "0"
	for i := 0; ; i++ {
		if i > 100000 {
			d.tb.Fatalf("%s %s: no end", scanCmd, key)
		}
		raw := d.redis.Do(append([]string{scanCmd, key, cursor}, opts...)...)
		v, _, err := resp.Parse(raw)
		if err != nil || v.Type != '*' || len(v.Elems) != 2 {
			d.tb.Fatalf("%s: %q", scanCmd, raw)
		}
		for _, e := range hsElems(d, resp.AppendValue(nil, v.Elems[1]), step) {
			seen[e] = true
		}
		cursor = string(v.Elems[0].Str)
		if cursor == "0" {
			break
		}
	}
	var want []string
	for e := range seen {
		want = append(want, e)
	}
	slices.Sort(want)
	raw := d.mem.Do(d.proto, hsArgs(append([]string{scanCmd, key, "0"}, opts...))...)
	v, _, err := resp.Parse(raw)
	if err != nil || v.Type != '*' || len(v.Elems) != 2 || string(v.Elems[0].Str) != "0" {
		d.tb.Fatalf("model %s: %q", scanCmd, raw)
	}
	got := hsElems(d, resp.AppendValue(nil, v.Elems[1]), step)
	if !slices.Equal(got, want) {
		d.tb.Errorf("%s %s %q: redis (all pages) %d elements, model %d:\n redis: %q\n model: %q",
			scanCmd, key, opts, len(want), len(got), want, got)
	}
}

func hsArgs(args []string) [][]byte {
	out := make([][]byte, len(args))
	for i, a := range args {
		out[i] = []byte(a)
	}
	return out
}

// hsPick is one element of a random-pick reply: a field or member, and the value when
// the reply has values.
type hsPick struct{ elem, value string }

// hsParsePicks parses a random-pick reply with a count (HRANDFIELD, SRANDMEMBER, SPOP):
// its type byte and its picks. RESP3 HRANDFIELD WITHVALUES nests [field, value] arrays;
// RESP2 flattens them.
func hsParsePicks(d *differ, raw []byte, withValues bool) (byte, []hsPick) {
	d.tb.Helper()
	v, _, err := resp.Parse(raw)
	if err != nil {
		d.tb.Fatalf("parse %q: %v", raw, err)
	}
	if v.IsError() {
		return v.Type, nil
	}
	var picks []hsPick
	switch {
	case !withValues:
		for _, e := range v.Elems {
			picks = append(picks, hsPick{elem: string(e.Str)})
		}
	case d.proto == 3:
		for _, e := range v.Elems {
			if e.Type != '*' || len(e.Elems) != 2 {
				d.tb.Fatalf("RESP3 pick is not a pair: %q", raw)
			}
			picks = append(picks, hsPick{string(e.Elems[0].Str), string(e.Elems[1].Str)})
		}
	default:
		if len(v.Elems)%2 != 0 {
			d.tb.Fatalf("odd RESP2 pairs: %q", raw)
		}
		for i := 0; i < len(v.Elems); i += 2 {
			picks = append(picks, hsPick{string(v.Elems[i].Str), string(v.Elems[i+1].Str)})
		}
	}
	return v.Type, picks
}

// hsSameRandom runs a random-pick command with a count on both and checks the model by
// Redis' rules: the same reply type and number of picks, every pick an element of
// universe (with its value when withValues), distinct picks when distinct. It returns
// the model's picks.
func hsSameRandom(d *differ, universe map[string]string, withValues, distinct bool, args ...string) []hsPick {
	d.tb.Helper()
	a, b := d.both(args...)
	ta, pa := hsParsePicks(d, a, withValues)
	tb, pb := hsParsePicks(d, b, withValues)
	if ta != tb || len(pa) != len(pb) {
		d.tb.Errorf("RESP%d %s: shapes differ:\n redis: %.200q\n model: %.200q", d.proto, quote(args), a, b)
		return pb
	}
	for who, picks := range map[string][]hsPick{"redis": pa, "model": pb} {
		seen := map[string]bool{}
		for _, p := range picks {
			val, ok := universe[p.elem]
			if !ok {
				d.tb.Errorf("%s %s: %q is not an element", who, quote(args), p.elem)
			}
			if withValues && p.value != val {
				d.tb.Errorf("%s %s: %q has value %q, want %q", who, quote(args), p.elem, p.value, val)
			}
			if distinct && seen[p.elem] {
				d.tb.Errorf("%s %s: %q picked twice", who, quote(args), p.elem)
			}
			seen[p.elem] = true
		}
	}
	return pb
}

// hsUniverse returns what Redis holds at key, for checking random picks: field → value
// for a hash, member → "" for a set.
func hsUniverse(d *differ, key string) map[string]string {
	d.tb.Helper()
	out := map[string]string{}
	switch typ := string(d.redis.Do("TYPE", key)); typ {
	case "+hash\r\n":
		for _, e := range hsElems(d, d.redis.Do("HGETALL", key), 2) {
			f, v, _ := strings.Cut(e, "\x00=")
			out[f] = v
		}
	case "+set\r\n":
		for _, m := range hsElems(d, d.redis.Do("SMEMBERS", key), 1) {
			out[m] = ""
		}
	default:
		d.tb.Fatalf("hsUniverse %q: type %q", key, typ)
	}
	return out
}

// hsPutHash replaces key with a hash of the given field/value pairs in both.
func hsPutHash(d *differ, key string, fv ...string) {
	d.tb.Helper()
	d.redis.Do("DEL", key)
	delete(d.mem.data, key)
	if len(fv) == 0 {
		return
	}
	if got := d.redis.Do(append([]string{"HSET", key}, fv...)...); got[0] != ':' {
		d.tb.Fatalf("HSET: %q", got)
	}
	v := NewHash()
	for i := 0; i < len(fv); i += 2 {
		v.Hash[fv[i]] = []byte(fv[i+1])
	}
	d.mem.data[key] = v
}

func TestHash_setGet(t *testing.T) {
	hsEachProto(t, func(t *testing.T, d *differ) {
		d.same("HSET", "h", "f1", "v1")
		d.same("HSET", "h", "f1", "v1", "f2", "v2", "f3", "v3")
		d.same("HSET", "h", "f1", "new", "f1", "newer", "f4", "")
		d.same("hset", "h", "", "empty field")
		d.same("HSET", "h", "\x00\xff\xfe", "\x00bin\r\nval\xc3\x28")
		d.same("HSET", "h", "f1")              // arity (command table)
		d.same("HSET", "h", "f1", "v1", "f2")  // odd pairs (the handler)
		d.same("HMSET", "h", "f1", "v1", "f2") // odd pairs, HMSET's name
		d.same("HSET", "h")                    // arity
		d.same("HMSET", "h", "f1")             // arity
		d.same("HMSET", "h", "m1", "x", "m2", "y", "m1", "z")
		d.same("hmset", "h2", "a", "1")
		for _, f := range []string{"f1", "f2", "f4", "", "\x00\xff\xfe", "m1", "nofield", "F1"} {
			d.same("HGET", "h", f)
			d.same("HEXISTS", "h", f)
			d.same("HSTRLEN", "h", f)
		}
		d.same("HGET", "nokey", "f")
		d.same("HEXISTS", "nokey", "f")
		d.same("HSTRLEN", "nokey", "f")
		d.same("HLEN", "h")
		d.same("HLEN", "nokey")
		d.same("HMGET", "h", "f1", "nofield", "", "\x00\xff\xfe", "f1")
		d.same("HMGET", "nokey", "a", "b")
		d.same("HMGET", "h")
		d.same("HGET", "h")
		d.same("HGET", "h", "f", "x")
		d.sameUnordered(true, "HGETALL", "h")
		d.sameUnordered(false, "HKEYS", "h")
		d.sameUnordered(false, "HVALS", "h")
		d.same("HGETALL", "nokey")
		d.same("HKEYS", "nokey")
		d.same("HVALS", "nokey")
		d.same("HGETALL", "h", "x")
		hsSameState(d, "h")
		hsSameState(d, "h2")

		d.same("HSETNX", "h", "f1", "x")
		d.same("HSETNX", "h", "nx", "x")
		d.same("HSETNX", "h", "nx", "y")
		d.same("HSETNX", "newh", "", "")
		d.same("HSETNX", "h", "a")
		d.same("HSETNX", "h", "a", "b", "c")
		hsSameState(d, "h")
		hsSameState(d, "newh")

		// A field with an empty value is a field; a hash of empty things is a key.
		d.same("HSET", "e", "", "")
		d.same("HLEN", "e")
		d.same("HGET", "e", "")
		d.same("HSTRLEN", "e", "")
		d.same("HEXISTS", "e", "")
		d.same("HGETALL", "e")
	})
}

func TestHash_del(t *testing.T) {
	hsEachProto(t, func(t *testing.T, d *differ) {
		d.same("HSET", "h", "a", "1", "b", "2", "c", "3", "", "e", "\xff", "x")
		d.same("HDEL", "h", "nofield")
		d.same("HDEL", "h", "a", "a", "nofield")
		d.same("HDEL", "h", "")
		d.same("HDEL", "nokey", "a")
		d.same("HDEL", "h")
		hsSameState(d, "h")
		d.same("HDEL", "h", "b", "c", "\xff", "b")
		hsSameState(d, "h") // emptied: the key is gone
		d.same("HLEN", "h")
		d.same("HGETALL", "h")
		d.same("HSET", "h", "z", "1")
		hsSameState(d, "h")
	})
}

func TestHash_incr(t *testing.T) {
	hsEachProto(t, func(t *testing.T, d *differ) {
		d.same("HSET", "h", "s", "abc", "n", "10", "big", "9223372036854775806",
			"neg", "-9223372036854775807", "sp", " 1", "lead0", "01", "plus", "+1",
			"negzero", "-0", "f", "1.5", "e", "", "long", "100000000000000000000")
		for _, f := range []string{"s", "n", "big", "neg", "sp", "lead0", "plus", "negzero", "f", "e", "long", "new"} {
			d.same("HINCRBY", "h", f, "1")
		}
		d.same("HINCRBY", "h", "big", "1")
		d.same("HINCRBY", "h", "big", "1")
		d.same("HINCRBY", "h", "neg", "-1")
		d.same("HINCRBY", "h", "neg", "-1")
		d.same("HINCRBY", "h", "n", "-9223372036854775808")
		d.same("HINCRBY", "h", "n", "9223372036854775807")
		d.same("HINCRBY", "h", "n", "-20")
		d.same("HINCRBY", "h", "n", "0")
		for _, incr := range []string{"x", "", " 1", "1 ", "+1", "01", "1.0", "-0",
			"9223372036854775808", "-9223372036854775809", "1e3", "\x001", "99999999999999999999"} {
			d.same("HINCRBY", "h", "n", incr)
		}
		d.same("HINCRBY", "nokey", "f", "-5")
		d.same("HINCRBY", "nokey2", "f", "x")
		d.same("HINCRBY", "h", "n")
		hsSameState(d, "h")
		hsSameState(d, "nokey")
		hsSameState(d, "nokey2")

		d.same("HSET", "fl", "a", "1.5", "b", "abc", "c", "10", "inf", "inf", "ninf", "-inf",
			"sp", " 1", "hex", "0x10", "e", "", "big", "1.1e4932", "exp", "5e3", "nan", "nan")
		for _, f := range []string{"a", "b", "c", "inf", "ninf", "sp", "hex", "e", "big", "exp", "nan", "new"} {
			d.same("HINCRBYFLOAT", "fl", f, "0.1")
		}
		for _, incr := range []string{"1", "-1.5", "0.2", "1e10", "-1e-10", "3.0e3", "+7", ".5",
			"5.", "0x1p-2", "1e-4940", "123456789012345678901234567890", "-0", "0"} {
			d.same("HINCRBYFLOAT", "fl", "a", incr)
		}
		for _, incr := range []string{"abc", "", " 1", "1 ", "1e", "nan", "inf", "-inf",
			"Infinity", "1e5000", "1e-5000", "\x001", "1\x00"} {
			d.same("HINCRBYFLOAT", "fl", "a", incr)
		}
		d.same("HINCRBYFLOAT", "fl", "big", "1e4932")
		d.same("HINCRBYFLOAT", "fl", "big", "-1e4932")
		d.same("HINCRBYFLOAT", "newfl", "f", "-2.5")
		d.same("HINCRBYFLOAT", "nokey3", "f", "x")
		d.same("HINCRBYFLOAT", "fl", "a")
		hsSameState(d, "fl")
		hsSameState(d, "newfl")
		hsSameState(d, "nokey3")
	})
}

func TestHash_wrongTypeAndExpired(t *testing.T) {
	hsEachProto(t, func(t *testing.T, d *differ) {
		hsPutString(d, "str", "value")
		hsPutString(d, "num", "1")
		d.same("HSET", "h", "f", "v")
		d.same("SADD", "set", "m")
		cmds := [][]string{
			{"HSET", "K", "f", "v"}, {"HMSET", "K", "f", "v"}, {"HSETNX", "K", "f", "v"},
			{"HGET", "K", "f"}, {"HMGET", "K", "f", "g"}, {"HGETALL", "K"}, {"HKEYS", "K"},
			{"HVALS", "K"}, {"HDEL", "K", "f"}, {"HEXISTS", "K", "f"}, {"HLEN", "K"},
			{"HSTRLEN", "K", "f"}, {"HINCRBY", "K", "f", "1"}, {"HINCRBYFLOAT", "K", "f", "1"},
			{"HRANDFIELD", "K"}, {"HRANDFIELD", "K", "1"}, {"HRANDFIELD", "K", "0"},
			{"HRANDFIELD", "K", "-3", "WITHVALUES"}, {"HSCAN", "K", "0"},
			{"HSCAN", "K", "0", "COUNT", "0"}, {"HSCAN", "K", "0", "BOGUS"},
			// Argument errors come before or after the type check, as in Redis.
			{"HINCRBY", "K", "f", "x"}, {"HINCRBYFLOAT", "K", "f", "x"},
			{"HINCRBYFLOAT", "K", "f", "inf"}, {"HRANDFIELD", "K", "x"},
			{"HRANDFIELD", "K", "1", "x"}, {"HSCAN", "K", "x"}, {"HSET", "K", "f", "v", "g"},
		}
		for _, key := range []string{"str", "num", "set"} {
			for _, c := range cmds {
				c = slices.Clone(c)
				c[1] = key
				d.same(c...)
			}
		}
		// The hash commands succeed on a hash, and the strings are untouched.
		d.same("HGET", "h", "f")
		hsSameState(d, "set")
		if got := string(d.redis.Do("GET", "str")); got != "$5\r\nvalue\r\n" {
			t.Errorf("redis str: %q", got)
		}
		if v := d.mem.data["str"]; v == nil || string(v.Str) != "value" {
			t.Errorf("model str: %+v", v)
		}

		// An expired key reads as missing, and a write into it starts a fresh key
		// without the old fields or the old expiry.
		for _, k := range []string{"eh1", "eh2", "eh3", "eh4", "eh5", "eh6", "es"} {
			hsPutExpired(d, k, KindHash)
		}
		hsPutExpired(d, "es", KindString)
		time.Sleep(5 * time.Millisecond)
		d.same("HGET", "eh1", "f")
		d.same("HGETALL", "eh1")
		d.same("HLEN", "eh1")
		d.same("HEXISTS", "eh1", "f")
		d.same("HRANDFIELD", "eh1")
		d.same("HRANDFIELD", "eh1", "-5")
		d.same("HSCAN", "eh1", "0")
		d.same("HDEL", "eh1", "f")
		d.same("HSET", "eh2", "new", "1")
		d.same("HSETNX", "eh3", "f", "new")
		d.same("HINCRBY", "eh4", "old", "5")
		d.same("HINCRBYFLOAT", "eh5", "old", "2.5")
		d.same("HMSET", "eh6", "f", "x")
		d.same("HSET", "es", "f", "v") // an expired string is no string: no WRONGTYPE
		for _, k := range []string{"eh1", "eh2", "eh3", "eh4", "eh5", "eh6", "es"} {
			hsSameState(d, k)
		}
	})
}

func TestHash_keepsExpiry(t *testing.T) {
	hsEachProto(t, func(t *testing.T, d *differ) {
		at := time.Now().Add(time.Hour).UnixMilli()
		d.same("HSET", "h", "a", "1", "b", "2", "c", "x")
		hsExpireAt(d, "h", at)
		d.same("HSET", "h", "a", "2", "new", "3")
		d.same("HMSET", "h", "m", "1")
		d.same("HSETNX", "h", "nx", "1")
		d.same("HINCRBY", "h", "a", "5")
		d.same("HINCRBYFLOAT", "h", "a", "0.5")
		d.same("HDEL", "h", "b")
		d.same("HGET", "h", "a")
		hsSameState(d, "h") // expiry checked there too
		d.same("HDEL", "h", "a", "c", "new", "m", "nx")
		hsSameState(d, "h")
	})
}

func TestHash_binaryAndLarge(t *testing.T) {
	hsEachProto(t, func(t *testing.T, d *differ) {
		bin := []string{"", "\x00", "\x00\x00", "\xff", "\xc3\x28", "\r\n", "a\x00b", "é", "\xed\xa0\x80", strings.Repeat("\x00", 100)}
		args := []string{"HSET", "b"}
		for i, f := range bin {
			args = append(args, f, bin[(i+3)%len(bin)])
		}
		d.same(args...)
		for _, f := range bin {
			d.same("HGET", "b", f)
			d.same("HSTRLEN", "b", f)
		}
		d.sameUnordered(true, "HGETALL", "b")
		d.sameUnordered(false, "HKEYS", "b")
		d.sameUnordered(false, "HVALS", "b")
		// A 100-byte field makes it a hash table in Redis: paged, so compare all pages.
		hsScanLoopSame(d, "HSCAN", "b")
		hsScanLoopSame(d, "HSCAN", "b", "MATCH", "\x00*")
		hsSameState(d, "b")

		// 1000 fields: Redis converts it to a hash table; the replies are the same.
		big := []string{"HSET", "big"}
		for i := range 1000 {
			big = append(big, fmt.Sprintf("field:%04d", i), strings.Repeat("v", i%70)+strconv.Itoa(i))
		}
		d.same(big...)
		d.same("HLEN", "big")
		d.sameUnordered(true, "HGETALL", "big")
		d.sameUnordered(false, "HKEYS", "big")
		d.sameUnordered(false, "HVALS", "big")
		d.same("HGET", "big", "field:0999")
		d.same("HSTRLEN", "big", "field:0069")
		d.same("HMGET", "big", "field:0000", "field:0500", "field:1000")
		d.same("HDEL", "big", "field:0001", "field:0002", "nofield")
		d.same("HINCRBY", "big", "field:0010", "5")
		hsScanLoopSame(d, "HSCAN", "big")
		hsScanLoopSame(d, "HSCAN", "big", "COUNT", "7")
		hsScanLoopSame(d, "HSCAN", "big", "MATCH", "field:00*")
		hsScanLoopSame(d, "HSCAN", "big", "MATCH", "*[13]5", "COUNT", "1000")
		universe := hsUniverse(d, "big")
		hsSameRandom(d, universe, true, true, "HRANDFIELD", "big", "50", "WITHVALUES")
		hsSameRandom(d, universe, false, true, "HRANDFIELD", "big", "997")
		hsSameRandom(d, universe, false, false, "HRANDFIELD", "big", "-2000")
		d.sameUnordered(false, "HRANDFIELD", "big", "998")
		hsSameState(d, "big")
	})
}

func TestHash_randfield(t *testing.T) {
	hsEachProto(t, func(t *testing.T, d *differ) {
		fv := []string{"a", "1", "b", "2", "c", "3", "", "empty", "\x00\xff", "bin", "e", ""}
		hsPutHash(d, "h", fv...)
		universe := map[string]string{}
		for i := 0; i < len(fv); i += 2 {
			universe[fv[i]] = fv[i+1]
		}
		n := len(universe)

		// Without a count: one bulk field.
		for range 20 {
			a, b := d.both("HRANDFIELD", "h")
			ta, pa := hsParsePicks(d, []byte("*1\r\n"+string(a)), false)
			tb, pb := hsParsePicks(d, []byte("*1\r\n"+string(b)), false)
			if ta != tb || a[0] != b[0] || len(pa) != 1 || len(pb) != 1 {
				t.Fatalf("HRANDFIELD h: redis %q, model %q", a, b)
			}
			if _, ok := universe[pb[0].elem]; !ok {
				t.Errorf("model picked %q", pb[0].elem)
			}
		}
		d.same("HRANDFIELD", "nokey")

		// Positive counts: distinct, the whole hash from the size up (in any order).
		for _, c := range []int{1, 2, n - 1} {
			for _, wv := range []bool{false, true} {
				args := []string{"HRANDFIELD", "h", strconv.Itoa(c)}
				if wv {
					args = append(args, "WITHVALUES")
				}
				for range 10 {
					hsSameRandom(d, universe, wv, true, args...)
				}
			}
		}
		for _, c := range []string{"6", "7", "1000", "9223372036854775807"} {
			d.sameUnordered(false, "HRANDFIELD", "h", c)
			hsSameRandom(d, universe, true, true, "HRANDFIELD", "h", c, "withvalues")
		}
		// The whole hash: RESP2 flat pairs, RESP3 one [field, value] array per field.
		d.sameUnordered(d.proto == 2, "HRANDFIELD", "h", "100", "WITHVALUES")
		d.sameUnordered(d.proto == 2, "HRANDFIELD", "h", "4611686018427387903", "WITHVALUES")
		d.sameUnordered(d.proto == 2, "hrandfield", "h", "100", "wItHvAlUeS\x00junk") // strcasecmp stops at NUL
		// Negative counts: exactly |count| picks, repeats allowed.
		for _, c := range []string{"-1", "-2", "-6", "-50"} {
			hsSameRandom(d, universe, false, false, "HRANDFIELD", "h", c)
			hsSameRandom(d, universe, true, false, "HRANDFIELD", "h", c, "WITHVALUES")
		}
		// Zero, missing keys, and the argument errors.
		for _, args := range [][]string{
			{"HRANDFIELD", "h", "0"}, {"HRANDFIELD", "h", "0", "WITHVALUES"},
			{"HRANDFIELD", "nokey", "5"}, {"HRANDFIELD", "nokey", "-5", "WITHVALUES"},
			{"HRANDFIELD", "nokey", "0"},
			{"HRANDFIELD", "h", "x"}, {"HRANDFIELD", "h", ""}, {"HRANDFIELD", "h", "1.5"},
			{"HRANDFIELD", "h", "-9223372036854775808"},
			{"HRANDFIELD", "h", "-9223372036854775807"}, // huge negative count, no values
			{"HRANDFIELD", "nokey", "-9223372036854775808"},
			{"HRANDFIELD", "h", "9223372036854775808"},
			{"HRANDFIELD", "h", "1", "WITHVALUE"}, {"HRANDFIELD", "h", "1", "WITHVALUES", "x"},
			{"HRANDFIELD", "nokey", "1", "bogus"},
			{"HRANDFIELD", "h", "4611686018427387904", "WITHVALUES"},
			{"HRANDFIELD", "h", "-4611686018427387904", "WITHVALUES"},
			{"HRANDFIELD", "nokey", "-4611686018427387904", "WITHVALUES"},
			{"HRANDFIELD", "nokey", "-4611686018427387903", "WITHVALUES"},
			{"HRANDFIELD"},
		} {
			if len(args) == 3 && args[1] == "h" && args[2] == "-9223372036854775807" {
				// Redis would send 2^63-1 picks; hotswap refuses (hashes.go). Only the
				// model is asked.
				got := d.mem.Do(d.proto, hsArgs(args)...)
				if string(got) != "-"+errRandomTooLarge+"\r\n" {
					t.Errorf("%q: model %q", args, got)
				}
				continue
			}
			d.same(args...)
		}
		hsSameState(d, "h")
	})
}

func TestHash_scan(t *testing.T) {
	hsEachProto(t, func(t *testing.T, d *differ) {
		hsPutHash(d, "h", "a", "1", "ab", "2", "b", "3", "", "e", "1", "int", "\x00", "nul", "a*", "star")
		for _, args := range [][]string{
			{"0"}, {"0", "COUNT", "1"}, {"0", "count", "100"}, {"0", "MATCH", "a*"},
			{"0", "MATCH", "*"}, {"0", "MATCH", "**"}, {"0", "MATCH", ""}, {"0", "MATCH", "a\\*"},
			{"0", "MATCH", "[ab]"}, {"0", "MATCH", "?"}, {"0", "MATCH", "nomatch"},
			{"0", "MATCH", "a*", "COUNT", "5"}, {"0", "COUNT", "5", "MATCH", "b"},
			{"0", "MATCH", "a*", "MATCH", "b*"}, {"0", "COUNT", "1", "COUNT", "2"},
			{"0", "MATCH\x00x", "a*"}, {"0", "cOuNt", "3"},
			// Redis ignores the cursor of a small hash: everything, cursor 0.
			{"5"}, {"12345"}, {"18446744073709551615"}, {"-1"}, {"+7"}, {"007"}, {""},
			{"5\x00junk"}, {"-18446744073709551615"},
		} {
			hsSameScan(d, true, append([]string{"HSCAN", "h"}, args...)...)
		}
		for _, args := range [][]string{
			{"x"}, {" 1"}, {"1 "}, {"\t1"}, {"0x1"}, {"1.0"}, {"-"}, {"+"},
			{"18446744073709551616"}, {"-18446744073709551616"}, {"99999999999999999999999"},
			{"0", "COUNT"}, {"0", "COUNT", "0"}, {"0", "COUNT", "-1"}, {"0", "COUNT", "x"},
			{"0", "COUNT", "01"}, {"0", "COUNT", "9223372036854775808"},
			{"0", "MATCH"}, {"0", "BOGUS", "x"}, {"0", "TYPE", "string"}, {"0", "NOVALUES"},
			{"0", "COUNT", "x", "BOGUS"}, {"0", "BOGUS", "COUNT", "x"}, {"0", "MATCH", "a", "COUNT"},
			{"x", "COUNT", "0"},
		} {
			d.same(append([]string{"HSCAN", "h"}, args...)...)
		}
		// A missing key is an empty page whatever the options; a bad cursor still errs.
		d.same("HSCAN", "nokey", "0")
		d.same("HSCAN", "nokey", "7", "COUNT", "0", "BOGUS")
		d.same("HSCAN", "nokey", "x")
		d.same("HSCAN", "h")
	})
}
