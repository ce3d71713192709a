package compat

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sort"
	"strconv"
	"testing"
	"time"

	"hotswap/dual"
	"hotswap/flags"
	"hotswap/internal/testutil"
	"hotswap/proxy"
	"hotswap/proxy/upstream"
	"hotswap/translate"
)

// splitStage puts user entity i at stage i%4: off, shadow, live, complete.
func splitStage(f *translate.Family, entity []byte) translate.Stage {
	if f.Name != "user" {
		return translate.StageOff
	}
	n, _ := strconv.Atoi(string(entity))
	return []translate.Stage{translate.StageOff, translate.StageShadow, translate.StageLive, translate.StageComplete}[n%4]
}

// TestKeyspace_SplitFamily: a family whose entities the flags spread over four
// stages is listed entity by entity from the store authoritative for it: SCAN, KEYS,
// EXISTS and DBSIZE see every key once, whatever copies the other store holds.
func TestKeyspace_SplitFamily(t *testing.T) {
	ep := testutil.DynamoEndpoint(t, testutil.Dynalite)
	db := testutil.MustDynamoClient(t, ep)
	table := testutil.MustCreateTable(t, db)
	m, err := translate.ParseMapping(fmt.Appendf(nil, `
table: %s
families:
  - name: user
    match: "user:{id}"
    type: hash
    pk: "user#{id}"
    sk: "profile"
`, table), "split.yaml")
	if err != nil {
		t.Fatal(err)
	}
	eng, err := translate.NewEngine(translate.Options{Mapping: m, DB: db, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	back := testutil.MustStartRedis(t)
	jpool := upstream.NewPool(upstream.Options{Addr: back.Addr, ReadTimeout: 5 * time.Second})
	t.Cleanup(jpool.Close)
	stages := flags.StaticFunc(splitStage)
	sy := dual.New(dual.Options{
		Engine: eng, Redis: dual.RedisFunc(jpool.Do),
		Stage: func(r *translate.Route) translate.Stage {
			return stages.Stage(context.Background(), r.Family, r.Entity)
		},
	})
	sy.Open(context.Background())
	t.Cleanup(func() { _ = sy.Close(context.Background()) })
	srv := proxy.New(proxy.Config{
		Upstream: upstream.Options{Addr: back.Addr, ReadTimeout: 5 * time.Second},
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		Engine:   eng, Syncer: sy, Stages: stages,
	})
	if err := srv.Open(context.Background(), "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close(context.Background()) })
	hs := testutil.MustDialRaw(t, srv.Addr().String())
	direct := testutil.MustDialRaw(t, back.Addr)

	var want []string
	for i := range 80 {
		k := "user:" + strconv.Itoa(i)
		if v := parse(hs.Do("HSET", k, "name", "n"+strconv.Itoa(i))); v.IsError() {
			t.Fatalf("HSET %s: %s", k, v.Str)
		}
		want = append(want, k)
	}
	for i := range 20 {
		k := "plain:" + strconv.Itoa(i)
		hs.Do("SET", k, "v")
		want = append(want, k)
	}
	sort.Strings(want)
	// Wait for the copies: shadow entities in DynamoDB, live ones in Redis.
	deadline := time.Now().Add(10 * time.Second)
	for {
		n := 0
		for i := 2; i < 80; i += 4 {
			if parse(direct.Do("EXISTS", "user:"+strconv.Itoa(i))).Int == 1 {
				n++
			}
		}
		if n == 20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of 20 live entities copied to Redis", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := parse(direct.Do("DBSIZE")).Int; got < 60+20 {
		t.Fatalf("Redis holds %d keys; want the off, shadow and live ones and the plain keys", got)
	}

	for _, opts := range [][]string{nil, {"COUNT", "3"}, {"MATCH", "user:*"}, {"TYPE", "hash"}} {
		got := scanSplit(t, hs, opts...)
		w := want
		if len(opts) > 0 && opts[0] != "COUNT" {
			w = slices.DeleteFunc(slices.Clone(want), func(k string) bool { return k[:5] != "user:" })
		}
		if !slices.Equal(got, w) {
			t.Errorf("SCAN %q:\n got %q\nwant %q", opts, got, w)
		}
	}
	v := parse(hs.Do("KEYS", "*"))
	got := elems(v)
	sort.Strings(got)
	if !slices.Equal(got, want) {
		t.Errorf("KEYS *:\n got %q\nwant %q", got, want)
	}
	if n := parse(hs.Do("DBSIZE")).Int; n != int64(len(want)) {
		t.Errorf("DBSIZE %d, want %d", n, len(want))
	}
	if n := parse(hs.Do("EXISTS", "user:0", "user:1", "user:2", "user:3", "user:999")).Int; n != 4 {
		t.Errorf("EXISTS over four stages: %d, want 4", n)
	}
	// Deleted keys leave every listing, whichever store holds them.
	if n := parse(hs.Do("DEL", "user:0", "user:1", "user:2", "user:3")).Int; n != 4 {
		t.Errorf("DEL over four stages: %d, want 4", n)
	}
	// ... and from the other store too: the live entity's Redis copy, the shadow
	// entity's DynamoDB copy (the capture went with the Redis part of the DEL).
	deadline = time.Now().Add(10 * time.Second)
	for {
		r, _, _ := m.Route([]byte("user:1"))
		v, _, err := eng.ReadState(context.Background(), &r, []byte("user:1"))
		inRedis := parse(direct.Do("EXISTS", "user:2")).Int
		if err == nil && v == nil && inRedis == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after DEL: user:1 in DynamoDB %v (err %v), user:2 in Redis %d", v != nil, err, inRedis)
		}
		time.Sleep(20 * time.Millisecond)
	}
	want = slices.DeleteFunc(want, func(k string) bool { return slices.Contains([]string{"user:0", "user:1", "user:2", "user:3"}, k) })
	if got := scanSplit(t, hs); !slices.Equal(got, want) {
		t.Errorf("SCAN after DEL:\n got %q\nwant %q", got, want)
	}
	if n := parse(hs.Do("DBSIZE")).Int; n != int64(len(want)) {
		t.Errorf("DBSIZE after DEL %d, want %d", n, len(want))
	}
}

func scanSplit(tb testing.TB, c *testutil.RawClient, opts ...string) []string {
	tb.Helper()
	seen := map[string]bool{}
	cursor := "0"
	for range 10000 {
		v := parse(c.Do(append([]string{"SCAN", cursor}, opts...)...))
		if v.IsError() || len(v.Elems) != 2 {
			tb.Fatalf("SCAN %s %q: %q", cursor, opts, v.Str)
		}
		for _, k := range v.Elems[1].Elems {
			seen[string(k.Str)] = true
		}
		if cursor = string(v.Elems[0].Str); cursor == "0" {
			return sortedSet(seen)
		}
	}
	tb.Fatalf("SCAN %q does not end", opts)
	return nil
}
