// Package compat holds hotswap's differential compatibility suites: the same commands
// go to a real redis-server and through hotswap, and the replies must be identical.
//
// translate_test.go drives the DynamoDB path: a catch-all key family at the `complete`
// stage puts every key of db 0 in DynamoDB (dynalite), and seeded random sequences of
// the string, hash, set and key commands hotswap translates run against both. Replies
// are compared byte for byte, with a written normalisation only where Redis itself is
// unordered or random (see check). A failure prints the seed; replay it with
//
//	HOTSWAP_TEST_SEED=<seed> go test ./test/compat -run TestTranslate_Random
//
// HOTSWAP_TEST_OPS sets the number of operations (default 20000).
package compat

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"hotswap/internal/testutil"
	"hotswap/proxy"
	"hotswap/proxy/upstream"
	"hotswap/resp"
	"hotswap/translate"
)

// env is a reference redis-server and hotswap in front of another redis-server, with
// a catch-all family in a fresh DynamoDB table.
type env struct {
	ref      *testutil.RawClient // straight to the reference Redis
	hs       *testutil.RawClient // through hotswap
	upstream *testutil.RawClient // straight to hotswap's Redis (must stay empty)
	db       *dynamodb.Client
	table    string
	proto    int
	refAddr  string
	hsAddr   string
}

func mustStartEnv(tb testing.TB, endpointVar string, proto int) *env {
	tb.Helper()
	ep := testutil.DynamoEndpoint(tb, endpointVar)
	db := testutil.MustDynamoClient(tb, ep)
	table := testutil.MustCreateTable(tb, db)
	m, err := translate.ParseMapping([]byte(fmt.Sprintf(`
table: %s
families:
  - name: all
    match: "{key...}"
    pk: "k#{key}"
    sk: "v"
    floor: complete
`, table)), "compat.yaml")
	if err != nil {
		tb.Fatal(err)
	}
	// RESP3 runs take the general path for every write, RESP2 runs the one-call fast
	// paths where they apply: both must give Redis' replies.
	eng, err := translate.NewEngine(translate.Options{Mapping: m, DB: db, Timeout: 10 * time.Second, NoFastPath: proto == 3})
	if err != nil {
		tb.Fatal(err)
	}
	ref := testutil.MustStartRedis(tb)
	back := testutil.MustStartRedis(tb)
	srv := proxy.New(proxy.Config{
		Upstream: upstream.Options{Addr: back.Addr, ReadTimeout: 10 * time.Second},
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		Engine:   eng,
	})
	if err := srv.Open(context.Background(), "127.0.0.1:0"); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Close(ctx)
	})
	e := &env{
		ref:      testutil.MustDialRaw(tb, ref.Addr),
		hs:       testutil.MustDialRaw(tb, srv.Addr().String()),
		upstream: testutil.MustDialRaw(tb, back.Addr),
		db:       db,
		table:    table,
		proto:    proto,
		refAddr:  ref.Addr,
		hsAddr:   srv.Addr().String(),
	}
	if proto == 3 {
		e.ref.Do("HELLO", "3")
		e.hs.Do("HELLO", "3")
	}
	return e
}

// op is one generated command and how its replies are compared.
type op struct {
	args  []string
	check check
}

type check uint8

const (
	exact       check = iota
	unordered         // the elements of an array/set reply in any order (SMEMBERS, SINTER, ...)
	unorderedKV       // field/value pairs in any order (HGETALL)
	ttl               // integers within a tolerance (TTL, PTTL, EXPIRETIME, PEXPIRETIME)
	randomPick        // SRANDMEMBER/HRANDFIELD: checked by count and membership
	pop               // SPOP: run on hotswap, the popped members removed from the reference
	scanAll           // HSCAN/SSCAN: iterated to the end on both, elements compared as sets
)

// gen makes random commands over a small keyspace so that keys collide often.
type gen struct{ r *rand.Rand }

var (
	genKeys    = []string{"k0", "k1", "k2", "k3", "k4", "k5", "k:6", "k\x00bin", "k\xffx", "{k}7"}
	genFields  = []string{"f0", "f1", "f2", "f3", "", "_x", "pk", "\xff\x00", "name", "v"}
	genMembers = []string{"a", "b", "c", "d", "1", "2", "", "\xfe\x00", "long-member-name"}
	genValues  = []string{"", "0", "1", "-5", "42", "9223372036854775807", "-9223372036854775808", "3.5", "1e3", "abc", "x\x00y", "\xff\xfe", " 7", "0.1"}
	genInts    = []string{"0", "1", "-1", "3", "10", "-3", "abc", "9223372036854775807", "-9223372036854775808", "2.5", ""}
	genFloats  = []string{"0", "1.5", "-0.25", "0.1", "1e2", "abc", "inf", "3", "-7.0e-3", "5.0e3"}
)

func (g *gen) pick(s []string) string { return s[g.r.IntN(len(s))] }
func (g *gen) key() string            { return g.pick(genKeys) }
func (g *gen) field() string          { return g.pick(genFields) }
func (g *gen) member() string         { return g.pick(genMembers) }

func (g *gen) value() string {
	if g.r.IntN(40) == 0 {
		return strings.Repeat("v", 100+g.r.IntN(2000))
	}
	return g.pick(genValues)
}

func (g *gen) keys(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = g.key()
	}
	return out
}

func cat(a ...any) []string {
	var out []string
	for _, x := range a {
		switch v := x.(type) {
		case string:
			out = append(out, v)
		case []string:
			out = append(out, v...)
		}
	}
	return out
}

// next returns a random operation. Expiry times are far from now (or in the past), so
// the two servers agree on whether a key has expired.
func (g *gen) next() op {
	k := g.key()
	n := 1 + g.r.IntN(3)
	future := strconv.FormatInt(time.Now().Unix()+int64(1000+g.r.IntN(5000)), 10)
	switch g.r.IntN(78) {
	// strings
	case 0, 1:
		return op{args: cat("GET", k)}
	case 2, 3:
		opts := [][]string{nil, {"EX", "1000"}, {"PX", "5000000"}, {"NX"}, {"XX"}, {"KEEPTTL"}, {"GET"}, {"EXAT", future}, {"NX", "GET"}, {"EX", "0"}, {"EX", "abc"}, {"PX", "100", "EX", "100"}, {"KEEPTTL", "EX", "10"}, {"XX", "GET", "PXAT", "1"}}
		return op{args: cat("SET", k, g.value(), opts[g.r.IntN(len(opts))])}
	case 4:
		return op{args: cat("SETNX", k, g.value())}
	case 5:
		return op{args: cat("SETEX", k, g.pick([]string{"100", "0", "-1", "abc"}), g.value())}
	case 6:
		return op{args: cat("PSETEX", k, g.pick([]string{"100000", "0", "x"}), g.value())}
	case 7:
		return op{args: cat("GETSET", k, g.value())}
	case 8:
		return op{args: cat("GETDEL", k)}
	case 9:
		opts := [][]string{nil, {"EX", "500"}, {"PX", "900000"}, {"PERSIST"}, {"EXAT", future}, {"PXAT", "1"}, {"EX", "-5"}, {"BAD"}}
		return op{args: cat("GETEX", k, opts[g.r.IntN(len(opts))])}
	case 10:
		return op{args: cat("MGET", g.keys(n+1))}
	case 11:
		args := []string{"MSET"}
		for i := 0; i < n; i++ {
			args = append(args, g.key(), g.value())
		}
		return op{args: args}
	case 12:
		args := []string{"MSETNX"}
		for i := 0; i < n; i++ {
			args = append(args, g.key(), g.value())
		}
		return op{args: args}
	case 13:
		return op{args: cat("APPEND", k, g.value())}
	case 14:
		return op{args: cat("STRLEN", k)}
	case 15:
		return op{args: cat("GETRANGE", k, g.pick(genInts), g.pick(genInts))}
	case 16:
		return op{args: cat("SETRANGE", k, g.pick([]string{"0", "1", "5", "-1", "100", "x"}), g.value())}
	case 17, 18:
		return op{args: cat(g.pick([]string{"INCR", "DECR"}), k)}
	case 19:
		return op{args: cat(g.pick([]string{"INCRBY", "DECRBY"}), k, g.pick(genInts))}
	case 20:
		return op{args: cat("INCRBYFLOAT", k, g.pick(genFloats))}
	// hashes
	case 21, 22, 23:
		args := []string{"HSET", k}
		for i := 0; i < n; i++ {
			args = append(args, g.field(), g.value())
		}
		return op{args: args}
	case 24:
		return op{args: cat("HSETNX", k, g.field(), g.value())}
	case 25:
		return op{args: cat("HMSET", k, g.field(), g.value())}
	case 26, 27:
		return op{args: cat("HGET", k, g.field())}
	case 28:
		return op{args: cat("HMGET", k, g.field(), g.field())}
	case 29, 30:
		return op{args: cat("HGETALL", k), check: unorderedKV}
	case 31:
		return op{args: cat("HDEL", k, g.field(), g.field())}
	case 32:
		return op{args: cat("HEXISTS", k, g.field())}
	case 33:
		return op{args: cat("HLEN", k)}
	case 34:
		return op{args: cat(g.pick([]string{"HKEYS", "HVALS"}), k), check: unordered}
	case 35:
		return op{args: cat("HSTRLEN", k, g.field())}
	case 36:
		return op{args: cat("HINCRBY", k, g.field(), g.pick(genInts))}
	case 37:
		return op{args: cat("HINCRBYFLOAT", k, g.field(), g.pick(genFloats))}
	case 38:
		opts := [][]string{nil, {"2"}, {"-3"}, {"5", "WITHVALUES"}, {"-2", "WITHVALUES"}, {"0"}, {"x"}}
		return op{args: cat("HRANDFIELD", k, opts[g.r.IntN(len(opts))]), check: randomPick}
	case 39:
		return op{args: cat("HSCAN", k, "0", "COUNT", "3"), check: scanAll}
	// sets
	case 40, 41, 42:
		args := []string{"SADD", k}
		for i := 0; i < n; i++ {
			args = append(args, g.member())
		}
		return op{args: args}
	case 43:
		return op{args: cat("SREM", k, g.member(), g.member())}
	case 44, 45:
		return op{args: cat("SMEMBERS", k), check: unordered}
	case 46:
		return op{args: cat("SISMEMBER", k, g.member())}
	case 47:
		return op{args: cat("SMISMEMBER", k, g.member(), g.member())}
	case 48:
		return op{args: cat("SCARD", k)}
	case 49:
		if g.r.IntN(2) == 0 {
			return op{args: cat("SPOP", k), check: pop}
		}
		return op{args: cat("SPOP", k, g.pick([]string{"1", "2", "0", "10"})), check: pop}
	case 50:
		opts := [][]string{nil, {"2"}, {"-3"}, {"0"}, {"20"}}
		return op{args: cat("SRANDMEMBER", k, opts[g.r.IntN(len(opts))]), check: randomPick}
	case 51:
		return op{args: cat("SMOVE", k, g.key(), g.member())}
	case 52:
		return op{args: cat(g.pick([]string{"SINTER", "SUNION", "SDIFF"}), g.keys(n+1)), check: unordered}
	case 53:
		return op{args: cat("SINTERCARD", strconv.Itoa(n), g.keys(n), g.pick([]string{"", "LIMIT"})), check: exact}
	case 54:
		return op{args: cat(g.pick([]string{"SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE"}), k, g.keys(n))}
	case 55:
		return op{args: cat("SSCAN", k, "0"), check: scanAll}
	// keys
	case 56, 57:
		return op{args: cat(g.pick([]string{"DEL", "UNLINK"}), g.keys(n))}
	case 58:
		return op{args: cat("EXISTS", g.keys(n))}
	case 59:
		return op{args: cat("TYPE", k)}
	case 60:
		return op{args: cat("TOUCH", g.keys(n))}
	case 61:
		opts := [][]string{nil, {"NX"}, {"XX"}, {"GT"}, {"LT"}, {"NX", "XX"}}
		return op{args: cat(g.pick([]string{"EXPIRE", "PEXPIRE"}), k, g.pick([]string{"1000", "5000000", "0", "-1", "abc"}), opts[g.r.IntN(len(opts))])}
	case 62:
		return op{args: cat(g.pick([]string{"EXPIREAT", "PEXPIREAT"}), k, g.pick([]string{future, "1", "0"}))}
	case 63, 64:
		return op{args: cat(g.pick([]string{"TTL", "PTTL", "EXPIRETIME", "PEXPIRETIME"}), k), check: ttl}
	case 65:
		return op{args: cat("PERSIST", k)}
	case 66:
		return op{args: cat(g.pick([]string{"RENAME", "RENAMENX"}), k, g.key())}
	case 67:
		return op{args: cat("COPY", k, g.key(), g.pick([]string{"", "REPLACE"}))}
	// wrong arity and bad arguments
	case 68:
		return op{args: cat(g.pick([]string{"GET", "HSET", "SADD", "EXPIRE", "HGET", "SMOVE", "SET"}), k)}
	case 69:
		return op{args: cat("HSET", k, g.field())}
	default:
		// Mostly writes that create keys, so reads find something.
		switch g.r.IntN(3) {
		case 0:
			return op{args: cat("SET", k, g.value())}
		case 1:
			return op{args: cat("HSET", k, g.field(), g.value())}
		}
		return op{args: cat("SADD", k, g.member(), g.member())}
	}
}

func (e *env) do(c *testutil.RawClient, args []string) []byte {
	b := make([][]byte, 0, len(args))
	for _, a := range args {
		if a == "" && len(b) > 0 && (b[0] != nil && (string(b[0]) == "SINTERCARD" || string(b[0]) == "COPY")) {
			continue // an optional keyword left out
		}
		b = append(b, []byte(a))
	}
	return c.DoBytes(b...)
}

func TestTranslate_Random(t *testing.T) {
	for _, proto := range []int{2, 3} {
		t.Run("RESP"+strconv.Itoa(proto), func(t *testing.T) {
			e := mustStartEnv(t, testutil.Dynalite, proto)
			seed := uint64(time.Now().UnixNano())
			if s := os.Getenv("HOTSWAP_TEST_SEED"); s != "" {
				seed, _ = strconv.ParseUint(s, 10, 64)
			}
			ops := 10000 // per protocol: 20,000 in all
			if s := os.Getenv("HOTSWAP_TEST_OPS"); s != "" {
				ops, _ = strconv.Atoi(s)
				ops /= 2
			}
			t.Logf("seed %d, %d operations (replay: HOTSWAP_TEST_SEED=%d)", seed, ops, seed)
			g := &gen{r: rand.New(rand.NewPCG(seed, 7))}
			fails := 0
			for i := 0; i < ops && fails < 10; i++ {
				o := g.next()
				t0 := time.Now()
				msg := e.compare(o)
				if d := time.Since(t0); d > time.Second || os.Getenv("HOTSWAP_TEST_SLOWOPS") != "" && d > 20*time.Millisecond {
					t.Logf("seed %d op %d: %s took %v", seed, i, quote(o.args), d)
				}
				if msg != "" {
					fails++
					t.Errorf("seed %d op %d: %s %s", seed, i, quote(o.args), msg)
				}
			}
			// The data lives in DynamoDB, not in hotswap's Redis.
			if got := e.upstream.Do("DBSIZE"); string(got) != ":0\r\n" {
				t.Errorf("hotswap's Redis holds keys after the run: DBSIZE %q, so some commands were not routed to DynamoDB", got)
			}
			ref := e.ref.Do("DBSIZE")
			out, err := e.db.Scan(context.Background(), &dynamodb.ScanInput{TableName: aws.String(e.table), Select: "COUNT"})
			if err != nil {
				t.Fatal(err)
			}
			if string(ref) != ":0\r\n" && out.Count == 0 {
				t.Errorf("reference Redis holds keys (%q) but the DynamoDB table is empty", ref)
			}
		})
	}
}

// compare runs o on both servers and returns what differs ("" when they agree).
func (e *env) compare(o op) string {
	switch o.check {
	case pop:
		before := parse(e.do(e.ref, []string{"SMEMBERS", o.args[1]}))
		got := e.do(e.hs, o.args)
		gv := parse(got)
		if gv.IsError() {
			if want := e.do(e.ref, o.args); !bytes.Equal(want, got) {
				return diffBytes(want, got)
			}
			return ""
		}
		popped := elems(gv)
		members := map[string]bool{}
		for _, m := range elems(before) {
			members[m] = true
		}
		for _, p := range popped {
			if !members[p] {
				return fmt.Sprintf("popped %q, not a member of %v", p, elems(before))
			}
		}
		if len(o.args) == 3 {
			n, _ := strconv.Atoi(o.args[2])
			if want := min(n, len(members)); len(popped) != want {
				return fmt.Sprintf("popped %d members, want %d", len(popped), want)
			}
		} else if len(members) > 0 && len(popped) != 1 {
			return fmt.Sprintf("SPOP without count popped %d", len(popped))
		}
		if len(popped) > 0 {
			e.do(e.ref, cat("SREM", o.args[1], popped))
		}
		return ""
	case scanAll:
		want, werr := scanToEnd(e, e.ref, o.args)
		got, gerr := scanToEnd(e, e.hs, o.args)
		if werr != gerr {
			return fmt.Sprintf("\n redis: %s\n hotswap: %s", werr, gerr)
		}
		if want != got {
			return fmt.Sprintf("\n redis: %s\n hotswap: %s", want, got)
		}
		return ""
	}
	want := e.do(e.ref, o.args)
	got := e.do(e.hs, o.args)
	if bytes.Equal(want, got) {
		return ""
	}
	wv, gv := parse(want), parse(got)
	switch o.check {
	case unordered, unorderedKV:
		if norm(wv, o.check == unorderedKV) == norm(gv, o.check == unorderedKV) {
			return ""
		}
	case ttl:
		if wv.Type == ':' && gv.Type == ':' {
			d := wv.Int - gv.Int
			tol := int64(1)
			if strings.HasPrefix(o.args[0], "P") {
				tol = 1000
			}
			if (wv.Int >= 0) == (gv.Int >= 0) && d >= -tol && d <= tol && (wv.Int >= 0 || d == 0) {
				return ""
			}
		}
	case randomPick:
		if wv.IsError() || gv.IsError() || wv.Type != gv.Type {
			break
		}
		if len(wv.Elems) != len(gv.Elems) {
			// Random picks with a positive count are distinct and capped at the size
			// in both; a negative count gives exactly |count|: lengths must agree.
			break
		}
		return ""
	}
	return diffBytes(want, got)
}

func scanToEnd(e *env, c *testutil.RawClient, args []string) (string, string) {
	seen := map[string]bool{}
	a := append([]string(nil), args...)
	for i := 0; i < 1000; i++ {
		v := parse(e.do(c, a))
		if v.IsError() {
			return "", string(v.Str)
		}
		if len(v.Elems) != 2 {
			return "", "bad reply"
		}
		items := v.Elems[1].Elems
		step := 1
		if a[0] == "HSCAN" {
			step = 2
		}
		for j := 0; j+step <= len(items); j += step {
			s := ""
			for x := 0; x < step; x++ {
				s += fmt.Sprintf("%q ", items[j+x].Str)
			}
			seen[s] = true
		}
		if string(v.Elems[0].Str) == "0" {
			break
		}
		a[2] = string(v.Elems[0].Str)
	}
	out := make([]string, 0, len(seen))
	for s := range seen {
		out = append(out, s)
	}
	sort.Strings(out)
	return strings.Join(out, "|"), ""
}

func parse(b []byte) resp.Value {
	v, _, err := resp.Parse(b)
	if err != nil {
		return resp.Value{Type: '-', Str: []byte("unparsable reply: " + err.Error())}
	}
	return v
}

func elems(v resp.Value) []string {
	if len(v.Elems) == 0 && (v.Type == '$' || v.Type == '+') && !v.Null {
		return []string{string(v.Str)}
	}
	var out []string
	for _, x := range v.Elems {
		out = append(out, string(x.Str))
	}
	return out
}

// norm is the multiset of a reply's elements (pairs for field/value replies).
func norm(v resp.Value, pairs bool) string {
	step := 1
	if pairs && v.Type != '%' {
		step = 2
	}
	var parts []string
	for i := 0; i+step <= len(v.Elems); i += step {
		var s []byte
		for j := 0; j < step; j++ {
			s = resp.AppendValue(s, v.Elems[i+j])
		}
		parts = append(parts, string(s))
	}
	sort.Strings(parts)
	return fmt.Sprintf("%c%d:%s", v.Type, len(v.Elems), strings.Join(parts, "|"))
}

func diffBytes(want, got []byte) string {
	return fmt.Sprintf("\n redis:   %q\n hotswap: %q", want, got)
}

func quote(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = strconv.Quote(a)
	}
	return strings.Join(q, " ")
}

// mustDialBoth opens a second client to each server (a concurrent writer).
func (e *env) second(tb testing.TB) (ref, hs *testutil.RawClient) {
	tb.Helper()
	ref = testutil.MustDialRaw(tb, e.refAddr)
	hs = testutil.MustDialRaw(tb, e.hsAddr)
	if e.proto == 3 {
		ref.Do("HELLO", "3")
		hs.Do("HELLO", "3")
	}
	return ref, hs
}

// TestTranslate_Transactions runs random MULTI/EXEC blocks, with WATCH and a second
// client that changes, deletes and re-creates watched keys, on moto (which has
// TransactWriteItems).
func TestTranslate_Transactions(t *testing.T) {
	for _, proto := range []int{2, 3} {
		t.Run("RESP"+strconv.Itoa(proto), func(t *testing.T) {
			e := mustStartEnv(t, testutil.Moto, proto)
			ref2, hs2 := e.second(t)
			seed := uint64(time.Now().UnixNano())
			if s := os.Getenv("HOTSWAP_TEST_SEED"); s != "" {
				seed, _ = strconv.ParseUint(s, 10, 64)
			}
			t.Logf("seed %d (replay: HOTSWAP_TEST_SEED=%d)", seed, seed)
			g := &gen{r: rand.New(rand.NewPCG(seed, 11))}
			both := func(args ...string) {
				t.Helper()
				a, b := e.do(e.ref, args), e.do(e.hs, args)
				if !bytes.Equal(a, b) {
					t.Fatalf("seed %d: %s:%s", seed, quote(args), diffBytes(a, b))
				}
			}
			other := func(args ...string) {
				t.Helper()
				a, b := e.do(ref2, args), e.do(hs2, args)
				if !bytes.Equal(a, b) {
					t.Fatalf("seed %d: second client %s:%s", seed, quote(args), diffBytes(a, b))
				}
			}
			for round := 0; round < 150; round++ {
				var watched []string
				if g.r.IntN(2) == 0 {
					watched = g.keys(1 + g.r.IntN(2))
					both(cat("WATCH", watched)...)
					switch g.r.IntN(5) {
					case 0:
						other("SET", watched[0], "changed")
					case 1:
						other("DEL", watched[0])
					case 2: // delete and re-create: still a change
						other("SET", watched[0], "x")
						other("DEL", watched[0])
						other("SET", watched[0], "x")
					case 3:
						other("SET", "unwatched-key", "1")
					}
				}
				both("MULTI")
				n := 1 + g.r.IntN(4)
				for i := 0; i < n; i++ {
					o := g.next()
					// A one-second PEXPIRE can expire between the reference's reply and
					// hotswap's to a later command: a race of the test, not a difference.
					if o.check != exact || (strings.EqualFold(o.args[0], "PEXPIRE") && o.args[2] == "1000") {
						o = op{args: cat("HSET", g.key(), g.field(), g.value())}
					}
					both(o.args...)
				}
				if g.r.IntN(10) == 0 {
					both("DISCARD")
					continue
				}
				both("EXEC")
			}
			// A transaction too big for one DynamoDB transaction is refused whole.
			args := []string{"MSET"}
			for i := 0; i < 101; i++ {
				args = append(args, "big"+strconv.Itoa(i), "v")
			}
			e.do(e.hs, []string{"MULTI"})
			e.do(e.hs, args)
			if got := e.do(e.hs, []string{"EXEC"}); !bytes.Contains(got, []byte("at most 100")) {
				t.Errorf("EXEC of 101 keys: %q", got)
			}
			if got := e.do(e.hs, []string{"EXISTS", "big0"}); string(got) != ":0\r\n" {
				t.Errorf("a refused transaction left keys behind: EXISTS big0 = %q", got)
			}
		})
	}
}
