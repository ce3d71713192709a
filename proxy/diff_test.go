package proxy_test

import (
	"regexp"
	"strings"
	"testing"
)

// The same commands sent straight to redis-server and through hotswap must get
// byte-identical replies, errors included.
func TestServer_Differential(t *testing.T) {
	e := mustStart(t, nil)
	bin := string([]byte{0, 1, 2, '\r', '\n', 0xff, 0xfe, ' ', '"'})
	scripts := map[string][]step{
		"strings": {
			cmd("PING"), cmd("PING", "hello"), cmd("ECHO", "x y"),
			cmd("SET", "s", "v"), cmd("GET", "s"), cmd("GET", "missing"),
			cmd("SET", "s", "v2", "NX"), cmd("SET", "s", "v3", "XX", "GET"),
			cmd("APPEND", "s", "!!"), cmd("STRLEN", "s"), cmd("GETRANGE", "s", "0", "1"),
			cmd("SETRANGE", "s", "1", "ZZ"), cmd("GET", "s"),
			cmd("INCR", "n"), cmd("INCRBY", "n", "41"), cmd("DECR", "n"), cmd("INCRBYFLOAT", "n", "1.5"),
			cmd("MSET", "a", "1", "b", "2"), cmd("MGET", "a", "b", "missing"), cmd("MSETNX", "a", "x", "c", "y"),
			cmd("GETDEL", "a"), cmd("GETEX", "b", "PX", "100000"), cmd("SETEX", "e", "100", "v"),
			cmd("EXISTS", "a", "b", "e"), cmd("DEL", "b", "e", "zzz"), cmd("TYPE", "s"),
		},
		"errors": {
			cmd("GET"), cmd("SET", "k"), cmd("INCR", "s0"), cmd("SET", "s0", "abc"), cmd("INCR", "s0"),
			cmd("LPUSH", "s0", "x"), cmd("HGET", "s0", "f"), cmd("NOSUCHCOMMAND", "a", "b"),
			cmd("SET", "k", "v", "EX", "notanumber"), cmd("SET", "k", "v", "BOGUS"),
			cmd("EXPIRE", "k", "1", "NX", "XX"), cmd("OBJECT", "NOSUCH"), cmd("CONFIG", "GET"),
			cmd("CLIENT", "NOSUCH"), cmd("CLIENT", "SETNAME"), cmd("CLIENT", "SETNAME", "has space"),
			cmd("SELECT", "notanumber"), cmd("SELECT", "01"), cmd("SELECT", "99999"), cmd("SELECT"),
			cmd("AUTH", "nopass"), cmd("AUTH", "u", "p", "x"), cmd("HELLO", "4"), cmd("HELLO", "x"),
			cmd("HELLO", "2", "BOGUS"), cmd("HELLO", "3", "AUTH", "default"), cmd("EXEC"), cmd("DISCARD"), cmd("UNWATCH"),
			cmd("CLIENT", "SETINFO", "lib-name", "x"),
		},
		"types": {
			cmd("HSET", "h", "f1", "v1", "f2", "v2"), cmd("HGET", "h", "f1"), cmd("HGETALL", "h"),
			cmd("HMGET", "h", "f1", "nope"), cmd("HINCRBY", "h", "n", "3"), cmd("HDEL", "h", "f2"),
			cmd("HLEN", "h"), cmd("HEXISTS", "h", "f1"),
			cmd("SADD", "set", "a", "b", "c"), cmd("SISMEMBER", "set", "b"), cmd("SCARD", "set"),
			cmd("SMISMEMBER", "set", "a", "z"), cmd("SREM", "set", "a"),
			cmd("RPUSH", "l", "1", "2", "3"), cmd("LRANGE", "l", "0", "-1"), cmd("LPOP", "l"), cmd("LLEN", "l"),
			cmd("ZADD", "z", "1", "a", "2", "b"), cmd("ZRANGE", "z", "0", "-1", "WITHSCORES"), cmd("ZSCORE", "z", "b"),
			cmd("XADD", "x", "1-1", "f", "v"), cmd("XRANGE", "x", "-", "+"), cmd("XLEN", "x"),
			cmd("PFADD", "hll", "a", "b"), cmd("PFCOUNT", "hll"),
			cmd("SETBIT", "bits", "7", "1"), cmd("BITCOUNT", "bits"),
			cmd("EVAL", "return {KEYS[1], ARGV[1], redis.call('GET', KEYS[1])}", "1", "s", "arg"),
			cmd("EVAL", "return redis.call('INCR', KEYS[1])", "1", "h"),
			cmd("OBJECT", "ENCODING", "h"), cmd("DBSIZE"), cmd("SCAN", "0", "COUNT", "1000", "MATCH", "nomatch*"),
		},
		"binary": {
			cmd("SET", bin, bin), cmd("GET", bin), cmd("HSET", "hb", bin, bin), cmd("HGETALL", "hb"),
			cmd("SADD", "sb", bin, ""), cmd("SISMEMBER", "sb", ""), cmd("SET", "", "empty key"), cmd("GET", ""),
		},
		"transactions": {
			cmd("MULTI"), cmd("SET", "t", "1"), cmd("INCR", "t"), cmd("GET", "t"), cmd("EXEC"),
			cmd("MULTI"), cmd("SET", "t", "x"), cmd("DISCARD"), cmd("GET", "t"),
			cmd("MULTI"), cmd("MULTI"), cmd("WATCH", "t"), cmd("INCR", "t"), cmd("NOSUCH"), cmd("EXEC"),
			cmd("MULTI"), cmd("SET"), cmd("EXEC"), cmd("GET", "t"),
			cmd("MULTI"), cmd("SET", "t", "abc"), cmd("INCR", "t"), cmd("EXEC"),
			cmd("WATCH", "t"), cmd("MULTI"), cmd("GET", "t"), cmd("EXEC"),
			cmd("WATCH", "t"), cmd("UNWATCH"), cmd("MULTI"), cmd("PING"), cmd("EXEC"),
			cmd("MULTI"), cmd("SELECT", "2"), cmd("SET", "indb2", "1"), cmd("EXEC"), cmd("GET", "indb2"),
			cmd("SELECT", "0"), cmd("GET", "indb2"),
		},
		"select": {
			cmd("SELECT", "1"), cmd("SET", "k", "db1"), cmd("SELECT", "2"), cmd("GET", "k"),
			cmd("SELECT", "1"), cmd("GET", "k"), cmd("DBSIZE"), cmd("SELECT", "0"), cmd("GET", "k"),
			cmd("SWAPDB", "1", "3"), cmd("SELECT", "3"), cmd("GET", "k"), cmd("SELECT", "0"),
		},
		"client": {
			cmd("CLIENT", "GETNAME"), cmd("CLIENT", "SETNAME", "app-1"), cmd("CLIENT", "GETNAME"),
			cmd("CLIENT", "SETNAME", ""), cmd("CLIENT", "GETNAME"), cmd("CLIENT", "TRACKING", "off"),
			cmd("CLIENT", "REPLY", "bogus"),
			cmd("HELLO", "2", "SETNAME", "n2"),
			cmd("CLIENT", "GETNAME"),
			cmd("RESET"), cmd("CLIENT", "GETNAME"),
			cmd("HELLO", "3"), cmd("CLIENT", "GETNAME"), cmd("HGETALL", "nohash"), cmd("HSET", "h3", "a", "1"),
			cmd("HGETALL", "h3"), cmd("SMEMBERS", "nohash"), cmd("ZSCORE", "nohash", "x"), cmd("HELLO", "2"),
			cmd("HGETALL", "h3"), cmd("HELLO", "3"), cmd("RESET"), cmd("HGETALL", "h3"),
		},
	}
	idRe := regexp.MustCompile(`\$2\r\nid\r\n:\d+\r\n`)
	normID := func(b []byte) []byte { return idRe.ReplaceAll(b, []byte("$2\r\nid\r\n:ID\r\n")) }
	for name, script := range scripts {
		for i := range script {
			if script[i].args[0] == "HELLO" {
				script[i].norm = normID
			}
		}
		t.Run(name, func(t *testing.T) { e.mustSame(t, script) })
		// The same again over RESP3: replies travel end to end in the client's protocol.
		resp3 := append([]step{{args: []string{"HELLO", "3"}, norm: normID}}, script...)
		t.Run(name+"/resp3", func(t *testing.T) { e.mustSame(t, resp3) })
	}
}

// CLIENT REPLY OFF and SKIP silence replies as Redis does.
func TestServer_ClientReply(t *testing.T) {
	e := mustStart(t, nil)
	for _, addr := range []string{e.addr, e.direct.Addr} {
		r := mustDialRaw(t, addr)
		r.Send([]byte("*3\r\n$6\r\nCLIENT\r\n$5\r\nREPLY\r\n$3\r\nOFF\r\n" +
			"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n" +
			"*1\r\n$4\r\nPING\r\n" +
			"*3\r\n$6\r\nCLIENT\r\n$5\r\nREPLY\r\n$4\r\nSKIP\r\n" +
			"*3\r\n$6\r\nCLIENT\r\n$5\r\nREPLY\r\n$2\r\nON\r\n" +
			"*3\r\n$6\r\nCLIENT\r\n$5\r\nREPLY\r\n$4\r\nSKIP\r\n" +
			"*2\r\n$4\r\nECHO\r\n$7\r\nskipped\r\n" +
			"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"))
		if got := string(r.Read()); got != "+OK\r\n" {
			t.Fatalf("%s: first reply %q, want +OK (from CLIENT REPLY ON)", addr, got)
		}
		if got := string(r.Read()); got != "$1\r\nv\r\n" {
			t.Fatalf("%s: second reply %q, want the GET", addr, got)
		}
	}
}

// CLIENT ID and HELLO's id are hotswap's own, one per client connection.
func TestServer_ClientID(t *testing.T) {
	e := mustStart(t, nil)
	a, b := mustDialRaw(t, e.addr), mustDialRaw(t, e.addr)
	ida, idb := string(a.Do("CLIENT", "ID")), string(b.Do("CLIENT", "ID"))
	if ida == idb || !strings.HasPrefix(ida, ":") {
		t.Fatalf("ids %q and %q: want two different integers", ida, idb)
	}
	if got := string(a.Do("CLIENT", "ID")); got != ida {
		t.Fatalf("id changed: %q then %q", ida, got)
	}
	hello := string(a.Do("HELLO"))
	if !strings.Contains(hello, "$2\r\nid\r\n"+ida) {
		t.Fatalf("HELLO %q does not carry the client id %q", hello, ida)
	}
}
