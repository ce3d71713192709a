package translate

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The set tests drive the differ as the hash tests do; the hs* helpers are in
// hashes_test.go.

// hsPutSet replaces key with a set of members in both.
func hsPutSet(d *differ, key string, members ...string) {
	d.tb.Helper()
	d.redis.Do("DEL", key)
	delete(d.mem.data, key)
	if len(members) == 0 {
		return
	}
	if got := d.redis.Do(append([]string{"SADD", key}, members...)...); got[0] != ':' {
		d.tb.Fatalf("SADD: %q", got)
	}
	v := NewSet()
	for _, m := range members {
		v.Set[m] = struct{}{}
	}
	d.mem.data[key] = v
}

func TestSet_addRemMembers(t *testing.T) {
	hsEachProto(t, func(t *testing.T, d *differ) {
		d.same("SADD", "s", "a")
		d.same("SADD", "s", "a", "b", "c", "b", "")
		d.same("sadd", "s", "\x00\xff", "\xc3\x28", "a\x00b", "1", "2")
		d.same("SADD", "s", "a")
		d.same("SADD", "s")
		for _, m := range []string{"a", "b", "", "\x00\xff", "\xc3\x28", "a\x00b", "1", "nomember", "A"} {
			d.same("SISMEMBER", "s", m)
		}
		d.same("SISMEMBER", "nokey", "a")
		d.same("SISMEMBER", "s")
		d.same("SISMEMBER", "s", "a", "b")
		d.same("SMISMEMBER", "s", "a", "nomember", "", "a", "\x00\xff")
		d.same("SMISMEMBER", "nokey", "a", "b")
		d.same("SMISMEMBER", "s")
		d.same("SCARD", "s")
		d.same("SCARD", "nokey")
		d.same("SCARD", "s", "x")
		d.sameUnordered(false, "SMEMBERS", "s")
		d.same("SMEMBERS", "nokey")
		d.same("SMEMBERS", "s", "x")
		hsSameState(d, "s")

		d.same("SREM", "s", "nomember")
		d.same("SREM", "s", "a", "a", "nomember", "")
		d.same("SREM", "nokey", "a")
		d.same("SREM", "s")
		hsSameState(d, "s")
		d.same("SREM", "s", "b", "c", "\x00\xff", "\xc3\x28", "a\x00b", "1", "2")
		hsSameState(d, "s") // emptied: the key is gone
		d.same("SCARD", "s")
		d.same("SMEMBERS", "s")

		// Integer members (an intset in Redis) and an empty member.
		d.same("SADD", "i", "3", "1", "2", "-5", "10", "0")
		d.sameUnordered(false, "SMEMBERS", "i")
		d.same("SADD", "e", "")
		d.same("SCARD", "e")
		d.same("SMEMBERS", "e")
		hsSameState(d, "i")
		hsSameState(d, "e")

		// Writes keep the key's expiry.
		hsExpireAt(d, "i", time.Now().Add(time.Hour).UnixMilli())
		d.same("SADD", "i", "99", "x")
		d.same("SREM", "i", "1", "nomember")
		hsSameState(d, "i")
	})
}

// TestSet_readsDoNotWrite checks that reads and writes that change nothing leave every
// key clean (no Put), so the engine writes nothing back for them.
func TestSet_readsDoNotWrite(t *testing.T) {
	h := NewHash()
	h.Hash["f"], h.Hash["n"] = []byte("v"), []byte("1")
	s := NewSet()
	s.Set["a"], s.Set["b"] = struct{}{}, struct{}{}
	handlers := Handlers()
	for _, args := range [][]string{
		{"HGET", "h", "f"}, {"HMGET", "h", "f", "x"}, {"HGETALL", "h"}, {"HKEYS", "h"},
		{"HVALS", "h"}, {"HLEN", "h"}, {"HEXISTS", "h", "f"}, {"HSTRLEN", "h", "f"},
		{"HRANDFIELD", "h"}, {"HRANDFIELD", "h", "-5", "WITHVALUES"}, {"HSCAN", "h", "0"},
		{"HDEL", "h", "nofield"}, {"HDEL", "nokey", "f"}, {"HSETNX", "h", "f", "x"},
		{"HINCRBY", "h", "f", "1"}, {"HINCRBYFLOAT", "h", "f", "1"}, {"HSET", "s", "f", "v"},
		{"SMEMBERS", "s"}, {"SISMEMBER", "s", "a"}, {"SMISMEMBER", "s", "a", "z"},
		{"SCARD", "s"}, {"SRANDMEMBER", "s"}, {"SRANDMEMBER", "s", "-3"}, {"SSCAN", "s", "0"},
		{"SINTER", "s", "h2"}, {"SUNION", "s"}, {"SDIFF", "s"}, {"SINTERCARD", "1", "s"},
		{"SADD", "s", "a"}, {"SREM", "s", "z"}, {"SREM", "nokey", "a"}, {"SPOP", "nokey"},
		{"SPOP", "s", "0"}, {"SMOVE", "s", "s", "a"}, {"SMOVE", "s", "t", "z"},
		{"SMOVE", "nokey", "t", "a"}, {"SMOVE", "s", "h", "a"}, {"SADD", "h", "a"},
	} {
		ks := NewKeyspace(time.Now().UnixMilli(), rand.New(rand.NewPCG(1, 2)))
		for _, k := range []string{"h", "s", "t", "h2", "nokey"} {
			var v *Value
			switch k {
			case "h":
				v = h.Clone()
			case "s":
				v = s.Clone()
			}
			ks.Add([]byte(k), v, 1, v != nil)
		}
		r := NewReply(2)
		if !Run(ks, r, handlers, hsArgs(args)) {
			t.Fatalf("%q: no handler", args)
		}
		for _, e := range ks.Entries() {
			if e.Dirty {
				t.Errorf("%q (reply %q) wrote %q", args, r.Bytes(), e.Key)
			}
		}
	}
}

func TestSet_wrongTypeAndExpired(t *testing.T) {
	hsEachProto(t, func(t *testing.T, d *differ) {
		hsPutString(d, "str", "value")
		d.same("HSET", "hash", "f", "v")
		d.same("SADD", "s", "a", "b")
		cmds := [][]string{
			{"SADD", "K", "m"}, {"SREM", "K", "m"}, {"SMEMBERS", "K"}, {"SISMEMBER", "K", "m"},
			{"SMISMEMBER", "K", "m", "n"}, {"SCARD", "K"}, {"SPOP", "K"}, {"SPOP", "K", "2"},
			{"SPOP", "K", "0"}, {"SRANDMEMBER", "K"}, {"SRANDMEMBER", "K", "2"},
			{"SRANDMEMBER", "K", "0"}, {"SRANDMEMBER", "K", "-3"}, {"SSCAN", "K", "0"},
			{"SSCAN", "K", "0", "COUNT", "0"}, {"SINTER", "K"}, {"SUNION", "K"}, {"SDIFF", "K"},
			{"SINTERCARD", "1", "K"}, {"SINTERCARD", "1", "K", "LIMIT", "5"},
			// Argument errors before the type check, as in Redis.
			{"SPOP", "K", "x"}, {"SPOP", "K", "-1"}, {"SPOP", "K", "1", "2"},
			{"SRANDMEMBER", "K", "x"}, {"SRANDMEMBER", "K", "1", "2"}, {"SSCAN", "K", "x"},
			{"SINTERCARD", "1", "K", "LIMIT", "-1"}, {"SINTERCARD", "1", "K", "BOGUS"},
			// The type of every source is checked, even after a missing key.
			{"SINTER", "nokey", "K"}, {"SINTER", "K", "nokey"}, {"SINTER", "s", "K"},
			{"SUNION", "nokey", "K"}, {"SUNION", "s", "K"}, {"SDIFF", "nokey", "K"},
			{"SDIFF", "s", "K"}, {"SINTERCARD", "2", "nokey", "K"},
			{"SINTERSTORE", "dst", "nokey", "K"}, {"SUNIONSTORE", "dst", "s", "K"},
			{"SDIFFSTORE", "dst", "nokey", "K"}, {"SINTERSTORE", "dst", "K", "s"},
		}
		for _, key := range []string{"str", "hash"} {
			for _, c := range cmds {
				c = slices.Clone(c)
				for i := range c {
					if c[i] == "K" {
						c[i] = key
					}
				}
				d.same(c...)
			}
			// SMOVE: a missing source is 0 before any type check; then the source's
			// type, then the destination's.
			d.same("SMOVE", "nokey", key, "a")
			d.same("SMOVE", key, "s", "a")
			d.same("SMOVE", key, "nokey", "a")
			d.same("SMOVE", "s", key, "a")
			d.same("SMOVE", "s", key, "nomember")
			d.same("SMOVE", key, key, "a")
			hsSameState(d, "s")
			// A *STORE destination of another type is replaced, not refused.
			hsPutString(d, "strdst", "x")
			d.same("SUNIONSTORE", "strdst", "s")
			hsSameState(d, "strdst")
		}
		hsSameState(d, "dst")
		hsSameState(d, "str")
		hsSameState(d, "hash")

		// Expired keys read as missing; writes start a fresh key without expiry.
		for _, k := range []string{"e1", "e2", "e3", "e4", "e5", "e6", "e7", "e8"} {
			hsPutExpired(d, k, KindSet)
		}
		hsPutExpired(d, "es", KindString)
		time.Sleep(5 * time.Millisecond)
		d.same("SMEMBERS", "e1")
		d.same("SCARD", "e1")
		d.same("SISMEMBER", "e1", "m")
		d.same("SMISMEMBER", "e1", "m", "old")
		d.same("SPOP", "e1")
		d.same("SPOP", "e1", "3")
		d.same("SRANDMEMBER", "e1")
		d.same("SRANDMEMBER", "e1", "-3")
		d.same("SSCAN", "e1", "0")
		d.sameUnordered(false, "SINTER", "e1", "s")
		d.sameUnordered(false, "SUNION", "e1", "s")
		d.sameUnordered(false, "SDIFF", "e1", "s")
		d.same("SINTERCARD", "2", "s", "e1")
		d.same("SADD", "e2", "new")
		d.same("SREM", "e3", "m")
		d.same("SMOVE", "e4", "s", "m")
		d.same("SMOVE", "s", "e5", "a")
		d.same("SUNIONSTORE", "e6", "e6", "s")
		d.same("SINTERSTORE", "e7", "s", "s")
		d.same("SADD", "es", "x") // an expired string is no string: no WRONGTYPE
		for _, k := range []string{"e1", "e2", "e3", "e4", "e5", "e6", "e7", "e8", "es", "s"} {
			hsSameState(d, k)
		}
	})
}

func TestSet_move(t *testing.T) {
	hsEachProto(t, func(t *testing.T, d *differ) {
		at := time.Now().Add(time.Hour).UnixMilli()
		at2 := time.Now().Add(2 * time.Hour).UnixMilli()
		hsPutSet(d, "src", "a", "b", "c", "\x00")
		hsPutSet(d, "dst", "c", "x")
		hsExpireAt(d, "src", at)
		hsExpireAt(d, "dst", at2)
		d.same("SMOVE", "src", "dst", "a")
		d.same("SMOVE", "src", "dst", "c") // already in dst: still moved out of src
		d.same("SMOVE", "src", "dst", "nomember")
		d.same("SMOVE", "src", "src", "b")
		d.same("SMOVE", "src", "src", "nomember")
		d.same("SMOVE", "src", "new", "\x00")
		d.same("SMOVE", "nokey", "dst", "a")
		d.same("SMOVE", "nokey", "nokey", "a")
		d.same("SMOVE", "src", "dst")
		for _, k := range []string{"src", "dst", "new", "nokey"} {
			hsSameState(d, k)
		}
		d.same("SMOVE", "src", "dst", "b") // the last member: src is deleted
		for _, k := range []string{"src", "dst"} {
			hsSameState(d, k)
		}
	})
}

func TestSet_algebra(t *testing.T) {
	hsEachProto(t, func(t *testing.T, d *differ) {
		hsPutSet(d, "a", "1", "2", "3", "x", "y", "", "\x00\xff")
		hsPutSet(d, "b", "2", "3", "4", "y", "z", "\x00\xff")
		hsPutSet(d, "c", "3", "y", "q", "\x00\xff")
		hsPutSet(d, "d", "nothing", "in", "common")
		at := time.Now().Add(time.Hour).UnixMilli()
		hsPutSet(d, "ttl", "old")
		hsExpireAt(d, "ttl", at)
		keysets := [][]string{
			{"a"}, {"a", "b"}, {"b", "a"}, {"a", "b", "c"}, {"a", "d"}, {"a", "a"},
			{"a", "nokey"}, {"nokey", "a"}, {"nokey"}, {"nokey", "nokey2"}, {"c", "b", "a", "b"},
		}
		for _, ks := range keysets {
			for _, op := range []string{"SINTER", "SUNION", "SDIFF"} {
				d.sameUnordered(false, append([]string{op}, ks...)...)
			}
			n := strconv.Itoa(len(ks))
			d.same(append([]string{"SINTERCARD", n}, ks...)...)
			for _, lim := range []string{"0", "1", "2", "3", "100"} {
				d.same(append(append([]string{"SINTERCARD", n}, ks...), "LIMIT", lim)...)
			}
			for _, op := range []string{"SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE"} {
				d.same(append([]string{op, "out"}, ks...)...)
				hsSameState(d, "out")
				// The destination replaces a key with an expiry, and loses it.
				d.same(append([]string{op, "ttl"}, ks...)...)
				hsSameState(d, "ttl")
				hsPutSet(d, "ttl", "old")
				hsExpireAt(d, "ttl", at)
			}
		}
		// The destination is also a source.
		d.same("SUNIONSTORE", "a2", "a")
		d.same("SINTERSTORE", "a2", "a2", "b")
		hsSameState(d, "a2")
		d.same("SDIFFSTORE", "a2", "a2", "c")
		hsSameState(d, "a2")
		d.same("SUNIONSTORE", "a2", "a2", "d")
		hsSameState(d, "a2")
		d.same("SDIFFSTORE", "a2", "a2", "a2")
		hsSameState(d, "a2")
		d.same("SINTERSTORE", "out", "nokey")
		hsSameState(d, "out")
		// An empty result deletes the destination, whatever its type.
		hsPutString(d, "strdst", "x")
		d.same("SINTERSTORE", "strdst", "a", "d")
		hsSameState(d, "strdst")
		hsPutString(d, "strdst", "x")
		d.same("SDIFFSTORE", "strdst", "nokey", "a")
		hsSameState(d, "strdst")
		hsPutString(d, "strdst", "x")
		d.same("SINTERSTORE", "strdst", "a", "b")
		hsSameState(d, "strdst")
		d.same("SINTER")
		d.same("SINTERSTORE", "out")
		d.same("SUNIONSTORE", "out")
		d.same("SDIFFSTORE", "out")
		hsSameState(d, "a")
		hsSameState(d, "b")

		// SINTERCARD's own argument checks.
		for _, args := range [][]string{
			{"0", "a"}, {"-1", "a"}, {"x", "a"}, {"", "a"}, {"1.5", "a"}, {"01", "a"},
			{"9223372036854775808", "a"}, {"3", "a", "b"}, {"2", "a"},
			{"1", "a", "LIMIT"}, {"1", "a", "LIMIT", "-1"}, {"1", "a", "LIMIT", "x"},
			{"1", "a", "LIMIT", ""}, {"1", "a", "LIMIT", "9223372036854775808"},
			{"1", "a", "limit", "1", "LIMIT", "0"}, {"1", "a", "LIMIT", "1", "x"},
			{"1", "a", "BOGUS"}, {"1", "a", "b"}, {"1", "a", "LIMIT\x00x", "1"},
			{"2", "a", "LIMIT"}, {"2", "a", "LIMIT", "1"}, {"1", "nokey", "LIMIT", "-1"},
			{"1abc", "a"}, {"2abc", "a", "b"}, {" 1", "a"}, {"+1", "a"}, {"1"},
		} {
			d.same(append([]string{"SINTERCARD"}, args...)...)
		}
	})
}

func TestSet_popRandom(t *testing.T) {
	hsEachProto(t, func(t *testing.T, d *differ) {
		members := []string{"a", "b", "c", "", "\x00\xff", "1", "2"}
		reset := func() {
			hsPutSet(d, "s", members...)
		}
		reset()
		universe := hsUniverse(d, "s")
		n := len(members)

		// Without a count: one bulk member.
		for range 20 {
			a, b := d.both("SRANDMEMBER", "s")
			_, pa := hsParsePicks(d, []byte("*1\r\n"+string(a)), false)
			_, pb := hsParsePicks(d, []byte("*1\r\n"+string(b)), false)
			if a[0] != b[0] || len(pa) != 1 || len(pb) != 1 {
				t.Fatalf("SRANDMEMBER s: redis %q, model %q", a, b)
			}
			if _, ok := universe[pb[0].elem]; !ok {
				t.Errorf("model picked %q", pb[0].elem)
			}
		}
		for _, c := range []int{1, 2, n - 1} {
			for range 10 {
				hsSameRandom(d, universe, false, true, "SRANDMEMBER", "s", strconv.Itoa(c))
			}
		}
		for _, c := range []string{"7", "8", "1000", "9223372036854775807"} {
			d.sameUnordered(false, "SRANDMEMBER", "s", c)
		}
		for _, c := range []string{"-1", "-2", "-7", "-100"} {
			hsSameRandom(d, universe, false, false, "SRANDMEMBER", "s", c)
		}
		for _, args := range [][]string{
			{"s", "0"}, {"nokey"}, {"nokey", "5"}, {"nokey", "-5"}, {"nokey", "0"},
			{"s", "x"}, {"s", ""}, {"s", "1.5"}, {"s", "-9223372036854775808"},
			{"nokey", "-9223372036854775808"}, {"s", "9223372036854775808"}, {"s", "1", "2"},
			{"nokey", "1", "2"}, {},
		} {
			d.same(append([]string{"SRANDMEMBER"}, args...)...)
		}
		// Redis would send 2^63-1 picks; hotswap refuses (sets.go). Only the model is asked.
		if got := d.mem.Do(d.proto, hsArgs([]string{"SRANDMEMBER", "s", "-9223372036854775807"})...); string(got) != "-"+errRandomTooLarge+"\r\n" {
			t.Errorf("SRANDMEMBER huge negative count: model %q", got)
		}
		hsSameState(d, "s")

		// SPOP: each side pops at random, so each side is checked against its own
		// state, then both are reset to the same set.
		at := time.Now().Add(time.Hour).UnixMilli()
		for _, c := range []string{"", "1", "2", "6"} {
			for range 5 {
				reset()
				hsExpireAt(d, "s", at)
				args := []string{"SPOP", "s"}
				if c != "" {
					args = append(args, c)
				}
				a, b := d.both(args...)
				if c == "" {
					a, b = []byte("*1\r\n"+string(a)), []byte("*1\r\n"+string(b))
				}
				ta, pa := hsParsePicks(d, a, false)
				tb, pb := hsParsePicks(d, b, false)
				if ta != tb || len(pa) != len(pb) || (c == "" && a[4] != b[4]) {
					t.Fatalf("RESP%d %q: redis %q, model %q", d.proto, args, a, b)
				}
				rest := map[string]bool{}
				for _, m := range members {
					rest[m] = true
				}
				for _, p := range pb {
					if !rest[p.elem] {
						t.Errorf("model %q: %q popped twice or not a member", args, p.elem)
					}
					delete(rest, p.elem)
				}
				v := d.mem.data["s"]
				if v == nil || len(v.Set) != len(rest) || v.ExpireAt != at {
					t.Fatalf("model %q: left %+v, want %d members expiring at %d", args, v, len(rest), at)
				}
				for m := range v.Set {
					if !rest[m] {
						t.Errorf("model %q: %q still in the set", args, m)
					}
				}
				if got := string(d.redis.Do("SCARD", "s")); got != fmt.Sprintf(":%d\r\n", len(rest)) {
					t.Errorf("redis %q: SCARD %q", args, got)
				}
			}
		}
		// Popping the whole set (count >= size) deletes the key and replies it all.
		for _, c := range []string{"7", "8", "9223372036854775807"} {
			reset()
			d.sameUnordered(false, "SPOP", "s", c)
			hsSameState(d, "s")
		}
		reset()
		for range n {
			a, b := d.both("SPOP", "s")
			if a[0] != b[0] {
				t.Fatalf("SPOP s: redis %q, model %q", a, b)
			}
		}
		hsSameState(d, "s") // popped one by one down to nothing
		reset()
		for _, args := range [][]string{
			{"s", "0"}, {"nokey"}, {"nokey", "3"}, {"nokey", "0"}, {"s", "-1"}, {"nokey", "-1"},
			{"s", "x"}, {"s", ""}, {"s", "1.5"}, {"s", "01"}, {"s", "9223372036854775808"},
			{"s", "-9223372036854775808"}, {"s", "1", "2"}, {"nokey", "1", "2"}, {},
		} {
			d.same(append([]string{"SPOP"}, args...)...)
		}
		hsSameState(d, "s")
	})
}

func TestSet_scan(t *testing.T) {
	hsEachProto(t, func(t *testing.T, d *differ) {
		// Integers only: an intset in Redis, which ignores the cursor and COUNT.
		hsPutSet(d, "i", "1", "2", "3", "10", "-7", "25", "100", "12")
		// Fewer than ten strings: a small hash table Redis scans in one page from 0.
		hsPutSet(d, "s", "a", "ab", "b", "", "\x00", "a*", "1")
		for _, args := range [][]string{
			{"0"}, {"0", "COUNT", "1"}, {"0", "MATCH", "1*"}, {"0", "MATCH", "*"},
			{"0", "MATCH", "?"}, {"0", "MATCH", "-*"}, {"0", "MATCH", "[12]*", "COUNT", "2"},
			{"0", "MATCH", "nomatch"}, {"0", "match\x00x", "1*", "cOuNt", "20"},
		} {
			hsSameScan(d, false, append([]string{"SSCAN", "i"}, args...)...)
			// The hash table of s is paged when COUNT is below its size.
			hsScanLoopSame(d, "SSCAN", "s", args[1:]...)
		}
		for _, args := range [][]string{{"0"}, {"0", "MATCH", "a*"}, {"0", "MATCH", "?", "COUNT", "10"}} {
			hsSameScan(d, false, append([]string{"SSCAN", "s"}, args...)...)
		}
		for _, cur := range []string{"5", "18446744073709551615", "-1", "", "+3", "5\x00x"} {
			hsSameScan(d, false, "SSCAN", "i", cur)
		}
		for _, args := range [][]string{
			{"x"}, {" 1"}, {"18446744073709551616"}, {"0", "COUNT", "0"}, {"0", "COUNT", "x"},
			{"0", "MATCH"}, {"0", "TYPE", "set"}, {"0", "BOGUS"}, {"0", "MATCH", "a", "COUNT"},
		} {
			d.same(append([]string{"SSCAN", "s"}, args...)...)
		}
		d.same("SSCAN", "nokey", "0")
		d.same("SSCAN", "nokey", "0", "BOGUS")
		d.same("SSCAN", "nokey", "x")
		d.same("SSCAN", "s")

		// Large sets: Redis pages through its hash table; all pages together are what
		// the model returns in one.
		big := []string{"SADD", "big"}
		for i := range 1000 {
			big = append(big, "member:"+strconv.Itoa(i))
		}
		d.same(big...)
		ints := []string{"SADD", "bigint"}
		for i := range 1000 {
			ints = append(ints, strconv.Itoa(i*7-300))
		}
		d.same(ints...)
		d.same("SCARD", "big")
		d.sameUnordered(false, "SMEMBERS", "big")
		d.sameUnordered(false, "SMEMBERS", "bigint")
		for _, opts := range [][]string{nil, {"COUNT", "3"}, {"MATCH", "member:1*"}, {"MATCH", "*[05]", "COUNT", "50"}} {
			hsScanLoopSame(d, "SSCAN", "big", opts...)
			hsScanLoopSame(d, "SSCAN", "bigint", opts...)
		}
		d.sameUnordered(false, "SINTER", "big", "bigint")
		d.same("SINTERCARD", "2", "big", "big", "LIMIT", "10")
		d.same("SUNIONSTORE", "u", "big", "bigint")
		d.same("SDIFFSTORE", "df", "big", "u")
		hsSameState(d, "u")
		hsSameState(d, "df")
		u := hsUniverse(d, "big")
		hsSameRandom(d, u, false, true, "SRANDMEMBER", "big", "300")
		hsSameRandom(d, u, false, false, "SRANDMEMBER", "big", "-3000")
		if !strings.HasPrefix(string(d.same("SISMEMBER", "big", "member:999")), ":1") {
			t.Error("member:999 missing")
		}
	})
}
