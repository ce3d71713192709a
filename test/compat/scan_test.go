package compat

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
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
	"hotswap/translate"
)

// The commands over the whole keyspace (SCAN, KEYS, DBSIZE, RANDOMKEY, FLUSHDB,
// FLUSHALL) when db 0 is split between Redis and DynamoDB: the key sets must be the
// reference Redis' (compared as sets: the order is each store's own), and error replies
// byte for byte Redis'.

// scanAllKeys runs SCAN with opts from cursor 0 until cursor 0 and returns every key
// returned (sorted, without repeats) and the number of calls.
func scanAllKeys(tb testing.TB, e *env, c *testutil.RawClient, opts ...string) ([]string, int) {
	tb.Helper()
	seen := map[string]bool{}
	cursor := "0"
	for calls := 1; ; calls++ {
		if calls > 10000 {
			tb.Fatalf("SCAN %q does not end", opts)
		}
		v := parse(e.do(c, cat("SCAN", cursor, opts)))
		if v.IsError() || len(v.Elems) != 2 {
			tb.Fatalf("SCAN %s %q: %q", cursor, opts, v.Str)
		}
		for _, k := range v.Elems[1].Elems {
			seen[string(k.Str)] = true
		}
		cursor = string(v.Elems[0].Str)
		if cursor == "0" {
			return sortedSet(seen), calls
		}
	}
}

func sortedSet(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// keysReply is the sorted key list of a KEYS reply.
func keysReply(tb testing.TB, reply []byte) []string {
	tb.Helper()
	v := parse(reply)
	if v.IsError() {
		tb.Fatalf("KEYS: %s", v.Str)
	}
	out := elems(v)
	sort.Strings(out)
	return out
}

// populate writes n keys of mixed types (some binary, some with a TTL far off) on both
// servers and returns their names.
func populate(tb testing.TB, e *env, prefix string, n int) []string {
	tb.Helper()
	var keys []string
	for i := range n {
		var args []string
		k := prefix + strconv.Itoa(i)
		switch i % 5 {
		case 0, 1:
			k = "s:" + k
			args = []string{"SET", k, "v" + strconv.Itoa(i)}
		case 2:
			k = "h:" + k
			args = []string{"HSET", k, "f", "v", "g", "w"}
		case 3:
			k = "t:" + k
			args = []string{"SADD", k, "a", "b"}
		case 4:
			k = "x:" + k + "\xff\x00bin"
			args = []string{"SET", k, "binary key", "EX", "100000"}
		}
		both(tb, e, args...)
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// both runs a command on the reference and through hotswap; the replies must agree.
func both(tb testing.TB, e *env, args ...string) []byte {
	tb.Helper()
	want, got := e.do(e.ref, args), e.do(e.hs, args)
	if !bytes.Equal(want, got) {
		tb.Fatalf("%s:%s", quote(args), diffBytes(want, got))
	}
	return got
}

func TestKeyspace_CatchAll(t *testing.T) {
	for _, proto := range []int{2, 3} {
		t.Run("RESP"+strconv.Itoa(proto), func(t *testing.T) {
			e := mustStartEnv(t, testutil.Dynalite, proto)
			ctx := context.Background()

			// Empty: SCAN, KEYS, DBSIZE and RANDOMKEY agree with Redis.
			for _, args := range [][]string{{"SCAN", "0"}, {"KEYS", "*"}, {"DBSIZE"}, {"RANDOMKEY"}} {
				both(t, e, args...)
			}

			keys := populate(t, e, "key", 120)
			// Errors, exactly as Redis words them; none of them touch anything.
			for _, args := range [][]string{
				{"SCAN", "abc"}, {"SCAN", "0", "COUNT", "0"}, {"SCAN", "0", "MATCH"}, {"SCAN", "0", "COUNT", "x"},
				{"SCAN", "0", "COUNT", "-1"}, {"SCAN", "0", "TYPE"}, {"SCAN", "abc", "COUNT", "0"}, {"SCAN", "0", "bogus"},
				{"SCAN"}, {"KEYS"}, {"KEYS", "a", "b"}, {"DBSIZE", "x"}, {"RANDOMKEY", "x"},
				{"FLUSHALL", "x"}, {"FLUSHALL", "async", "x"}, {"FLUSHDB", "now"},
			} {
				both(t, e, args...)
			}
			both(t, e, "DBSIZE")

			for _, opts := range [][]string{
				nil, {"COUNT", "1"}, {"COUNT", "7"}, {"COUNT", "1000"}, {"MATCH", "*"},
				{"MATCH", "s:key1*"}, {"MATCH", "h:key?"}, {"MATCH", "x:*bin", "COUNT", "3"}, {"MATCH", "nothing*"},
				{"TYPE", "string"}, {"TYPE", "HASH", "COUNT", "4"}, {"TYPE", "set", "MATCH", "t:key1*"},
				{"TYPE", "list"}, {"TYPE", "String\x00junk"},
			} {
				want, _ := scanAllKeys(t, e, e.ref, opts...)
				got, calls := scanAllKeys(t, e, e.hs, opts...)
				if !slices.Equal(want, got) {
					t.Errorf("SCAN %q: %d keys, want %d\n got: %q\nwant: %q", opts, len(got), len(want), got, want)
				}
				if len(opts) == 2 && opts[0] == "COUNT" && opts[1] == "1" && calls < len(keys)/2 {
					t.Errorf("SCAN COUNT 1 took %d calls for %d keys: COUNT is not followed", calls, len(keys))
				}
			}
			if got, _ := scanAllKeys(t, e, e.hs); !slices.Equal(got, keys) {
				t.Errorf("SCAN returned %q, want %q", got, keys)
			}
			for _, pat := range []string{"*", "s:*", "*1?", "h:key[0-4]*", "nothing", "x:*\xff*"} {
				want, got := keysReply(t, e.do(e.ref, []string{"KEYS", pat})), keysReply(t, e.do(e.hs, []string{"KEYS", pat}))
				if !slices.Equal(want, got) {
					t.Errorf("KEYS %q:\n got: %q\nwant: %q", pat, got, want)
				}
			}
			both(t, e, "DBSIZE")

			// A key a client sends a cursor hotswap never made: an empty page, cursor 0.
			if got := e.do(e.hs, []string{"SCAN", "123456789"}); string(got) != "*2\r\n$1\r\n0\r\n*0\r\n" {
				t.Errorf("SCAN with an unknown cursor: %q", got)
			}

			// Expired keys are not listed, and not counted once Redis reclaimed them.
			both(t, e, "SET", "expiring", "v", "PX", "1")
			both(t, e, "HSET", "expiring-h", "f", "v")
			both(t, e, "PEXPIRE", "expiring-h", "1")
			time.Sleep(20 * time.Millisecond)
			for _, c := range []*testutil.RawClient{e.ref, e.hs} {
				got, _ := scanAllKeys(t, e, c)
				if slices.Contains(got, "expiring") || slices.Contains(got, "expiring-h") {
					t.Errorf("SCAN returned an expired key")
				}
				if got := keysReply(t, e.do(c, []string{"KEYS", "expiring*"})); len(got) != 0 {
					t.Errorf("KEYS returned expired keys %q", got)
				}
			}
			both(t, e, "DBSIZE") // the reference's SCAN reclaimed them

			// RANDOMKEY: an existing key each time.
			for range 30 {
				k := parse(e.do(e.hs, []string{"RANDOMKEY"}))
				if k.IsError() || k.Null || !slices.Contains(keys, string(k.Str)) {
					t.Fatalf("RANDOMKEY = %q", e.do(e.hs, []string{"RANDOMKEY"}))
				}
			}

			// Inside MULTI, a whole-keyspace command replayed on Redis would only see
			// Redis' keys: the transaction is refused and nothing runs.
			for _, args := range [][]string{{"MULTI"}, {"SCAN", "0", "COUNT", "100"}, {"DBSIZE"}} {
				e.do(e.hs, args)
			}
			if got := e.do(e.hs, []string{"EXEC"}); !bytes.Contains(got, []byte("inside MULTI would only see the keys in Redis")) {
				t.Errorf("MULTI SCAN DBSIZE EXEC: %q", got)
			}

			// FLUSHDB ASYNC and FLUSHALL empty both stores.
			both(t, e, "FLUSHDB", "ASYNC")
			for _, args := range [][]string{{"DBSIZE"}, {"SCAN", "0"}, {"KEYS", "*"}, {"RANDOMKEY"}} {
				both(t, e, args...)
			}
			populate(t, e, "again", 30)
			both(t, e, "DEL", "s:again0", "h:again2") // tombstones in the table
			both(t, e, "SELECT", "2")                 // FLUSHALL empties db 0 from any db
			both(t, e, "SET", "in-db-2", "v")
			both(t, e, "FLUSHALL")
			both(t, e, "DBSIZE")
			both(t, e, "SELECT", "0")
			for _, args := range [][]string{{"DBSIZE"}, {"SCAN", "0"}, {"KEYS", "*"}, {"RANDOMKEY"}} {
				both(t, e, args...)
			}
			out, err := e.db.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(e.table), Select: "COUNT"})
			if err != nil {
				t.Fatal(err)
			}
			if out.Count != 0 {
				t.Errorf("FLUSHALL left %d items in the table", out.Count)
			}
			if got := e.upstream.Do("DBSIZE"); string(got) != ":0\r\n" {
				t.Errorf("hotswap's Redis holds keys: DBSIZE %q", got)
			}
		})
	}
}

// TestKeyspace_ScanWhileWriting: keys written and deleted between the pages of a SCAN;
// every key present for the whole scan is returned, and no key that never existed.
func TestKeyspace_ScanWhileWriting(t *testing.T) {
	e := mustStartEnv(t, testutil.Dynalite, 2)
	_, hs2 := e.second(t)
	stable := map[string]bool{}
	var volatile []string
	for i := range 150 {
		k := fmt.Sprintf("stable:%d", i)
		hs2.Do("SET", k, "v")
		stable[k] = true
		v := fmt.Sprintf("volatile:%d", i)
		hs2.Do("SADD", v, "m")
		volatile = append(volatile, v)
	}
	ever := map[string]bool{}
	for k := range stable {
		ever[k] = true
	}
	for _, k := range volatile {
		ever[k] = true
	}
	for _, count := range []string{"3", "10", "40"} {
		seen := map[string]bool{}
		cursor, page := "0", 0
		for {
			v := parse(e.hs.Do("SCAN", cursor, "COUNT", count))
			if v.IsError() || len(v.Elems) != 2 {
				t.Fatalf("SCAN: %q", v.Str)
			}
			for _, k := range v.Elems[1].Elems {
				if !ever[string(k.Str)] {
					t.Fatalf("SCAN returned %q, which never existed", k.Str)
				}
				seen[string(k.Str)] = true
			}
			cursor = string(v.Elems[0].Str)
			if cursor == "0" {
				break
			}
			// Another client deletes and re-creates volatile keys and adds new ones.
			page++
			hs2.Do("DEL", volatile[page%len(volatile)], volatile[(page*7)%len(volatile)])
			hs2.Do("SADD", volatile[(page*3)%len(volatile)], "m")
			n := fmt.Sprintf("new:%s:%d", count, page)
			ever[n] = true
			hs2.Do("HSET", n, "f", "v")
		}
		for k := range stable {
			if !seen[k] {
				t.Errorf("COUNT %s: SCAN missed %q, present for the whole scan", count, k)
			}
		}
	}
}

// mustStartMixedEnv is mustStartEnv with a mapping that serves one family, user:{id},
// from DynamoDB, and no catch-all: every other key stays in Redis.
func mustStartMixedEnv(tb testing.TB, proto int) *env {
	tb.Helper()
	ep := testutil.DynamoEndpoint(tb, testutil.Dynalite)
	db := testutil.MustDynamoClient(tb, ep)
	table := testutil.MustCreateTable(tb, db)
	m, err := translate.ParseMapping(fmt.Appendf(nil, `
table: %s
families:
  - name: user
    match: "user:{id}"
    type: hash
    pk: "user#{id}"
    sk: "profile"
    floor: complete
  - name: session
    match: "session:{id}"
    type: string
    pk: "session#{id}"
    sk: "v"
`, table), "mixed.yaml")
	if err != nil {
		tb.Fatal(err)
	}
	eng, err := translate.NewEngine(translate.Options{Mapping: m, DB: db, Timeout: 10 * time.Second})
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

// TestKeyspace_Mixed: some keys in Redis (no family, or a family still served from
// Redis), some in DynamoDB; the commands see the union.
func TestKeyspace_Mixed(t *testing.T) {
	for _, proto := range []int{2, 3} {
		t.Run("RESP"+strconv.Itoa(proto), func(t *testing.T) {
			e := mustStartMixedEnv(t, proto)
			var all []string
			for i := range 40 {
				k := "user:" + strconv.Itoa(i)
				both(t, e, "HSET", k, "name", "n"+strconv.Itoa(i))
				all = append(all, k)
			}
			for i := range 30 {
				k := "other:" + strconv.Itoa(i)
				both(t, e, "SET", k, "v")
				all = append(all, k)
				s := "session:" + strconv.Itoa(i)
				both(t, e, "SET", s, "v")
				all = append(all, s)
			}
			both(t, e, "SADD", "user:1:teams", "a") // no family: Redis
			all = append(all, "user:1:teams")
			sort.Strings(all)
			// The DynamoDB keys are in DynamoDB only.
			if got := e.upstream.Do("EXISTS", "user:1", "user:2"); string(got) != ":0\r\n" {
				t.Fatalf("user keys in Redis: %q", got)
			}
			// Stale copies in Redis of keys that belong to DynamoDB are not listed.
			e.upstream.Do("HSET", "user:3", "name", "stale")
			e.upstream.Do("HSET", "user:999", "name", "stale")

			for _, opts := range [][]string{nil, {"COUNT", "1"}, {"COUNT", "5"}, {"COUNT", "500"}, {"MATCH", "user:*"},
				{"MATCH", "*:1*"}, {"TYPE", "hash"}, {"TYPE", "string", "COUNT", "3"}, {"TYPE", "set"}} {
				want, _ := scanAllKeys(t, e, e.ref, opts...)
				got, _ := scanAllKeys(t, e, e.hs, opts...)
				if !slices.Equal(want, got) {
					t.Errorf("SCAN %q:\n got: %q\nwant: %q", opts, got, want)
				}
			}
			if got, _ := scanAllKeys(t, e, e.hs); !slices.Equal(got, all) {
				t.Errorf("SCAN returned %q, want %q", got, all)
			}
			for _, pat := range []string{"*", "user:*", "*1", "session:?"} {
				want, got := keysReply(t, e.do(e.ref, []string{"KEYS", pat})), keysReply(t, e.do(e.hs, []string{"KEYS", pat}))
				if !slices.Equal(want, got) {
					t.Errorf("KEYS %q:\n got: %q\nwant: %q", pat, got, want)
				}
			}
			// DBSIZE does not count the stale copies (nor the copies the live stage keeps).
			ref, hs := parse(e.ref.Do("DBSIZE")), parse(e.hs.Do("DBSIZE"))
			if hs.Int != ref.Int {
				t.Errorf("DBSIZE %d, want the reference's %d: the 2 stale copies are not keys", hs.Int, ref.Int)
			}
			e.upstream.Do("DEL", "user:3", "user:999")
			both(t, e, "DBSIZE")

			// RANDOMKEY draws from both stores.
			var fromRedis, fromDynamo bool
			for range 60 {
				v := parse(e.hs.Do("RANDOMKEY"))
				if v.IsError() || v.Null || !slices.Contains(all, string(v.Str)) {
					t.Fatalf("RANDOMKEY = %q", v.Str)
				}
				if strings.HasPrefix(string(v.Str), "user:") && !strings.HasSuffix(string(v.Str), ":teams") {
					fromDynamo = true
				} else {
					fromRedis = true
				}
			}
			if !fromRedis || !fromDynamo {
				t.Errorf("60 RANDOMKEYs: a key from Redis %v, from DynamoDB %v", fromRedis, fromDynamo)
			}

			// FLUSHALL and FLUSHDB are refused before anything is flushed.
			for _, args := range [][]string{{"FLUSHALL"}, {"flushdb", "ASYNC"}} {
				want := "-ERR hotswap: " + strings.ToUpper(args[0]) + " would not delete the keys of DynamoDB families (user); delete them with DEL or use a catch-all mapping\r\n"
				if got := e.do(e.hs, args); string(got) != want {
					t.Errorf("%q:\n got %q\nwant %q", args, got, want)
				}
			}
			both(t, e, "DBSIZE")
			// A syntax error is still Redis'.
			both(t, e, "FLUSHALL", "bogus")

			// Only DynamoDB keys left: RANDOMKEY finds them; then nil once all are gone.
			for _, k := range all {
				if !strings.HasPrefix(k, "user:") || strings.HasSuffix(k, ":teams") {
					both(t, e, "DEL", k)
				}
			}
			for range 10 {
				if v := parse(e.hs.Do("RANDOMKEY")); v.Null || !strings.HasPrefix(string(v.Str), "user:") {
					t.Fatalf("RANDOMKEY = %q", e.hs.Do("RANDOMKEY"))
				}
			}
			for i := range 40 {
				both(t, e, "DEL", "user:"+strconv.Itoa(i))
			}
			for _, args := range [][]string{{"RANDOMKEY"}, {"DBSIZE"}, {"SCAN", "0"}, {"KEYS", "*"}} {
				both(t, e, args...)
			}
		})
	}
}
