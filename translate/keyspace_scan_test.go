package translate

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"hotswap/internal/testutil"
)

func TestScanCursors(t *testing.T) {
	now := time.Unix(1000, 0)
	c := NewScanCursors(3, time.Minute, func() time.Time { return now })
	a := c.Put(KeyScan{Owner: "a", Redis: 7})
	b := c.Put(KeyScan{Owner: "a", InDynamo: true, Pos: ScanPos{"pk": &types.AttributeValueMemberS{Value: "x"}}})
	for _, id := range []uint64{a, b} {
		if id == 0 || id >= maxCursorID {
			t.Fatalf("cursor %d out of [1, 2^53)", id)
		}
	}
	if a == b {
		t.Fatal("two cursors are equal")
	}
	// A cursor stays valid after use: a client may send it again.
	for range 2 {
		if s, ok := c.Get(a, "a"); !ok || s.Redis != 7 || s.InDynamo {
			t.Fatalf("Get(a) = %+v, %v", s, ok)
		}
	}
	if s, ok := c.Get(b, "a"); !ok || !s.InDynamo || s.Pos["pk"].(*types.AttributeValueMemberS).Value != "x" {
		t.Fatalf("Get(b) = %+v, %v", s, ok)
	}
	if _, ok := c.Get(a, "other server"); ok {
		t.Error("another owner's cursor is known")
	}
	if _, ok := c.Get(12345, "a"); ok {
		t.Error("a made-up cursor is known")
	}
	// Full: the oldest goes first.
	c.Put(KeyScan{Owner: "a"})
	d := c.Put(KeyScan{Owner: "a", Redis: 9})
	if _, ok := c.Get(a, "a"); ok {
		t.Error("the oldest cursor survived a full table")
	}
	if _, ok := c.Get(d, "a"); !ok {
		t.Error("the newest cursor is unknown")
	}
	if c.Len() != 3 {
		t.Errorf("Len = %d, want 3", c.Len())
	}
	// Expiry: unused for the TTL, a cursor is gone, and Put drops expired ones.
	now = now.Add(59 * time.Second)
	if _, ok := c.Get(d, "a"); !ok {
		t.Error("cursor expired early")
	}
	now = now.Add(time.Second)
	if _, ok := c.Get(d, "a"); ok {
		t.Error("cursor outlived its TTL")
	}
	c.Put(KeyScan{Owner: "a"})
	if c.Len() != 1 {
		t.Errorf("after expiry Len = %d, want 1", c.Len())
	}
}

func TestScanCursors_Concurrent(t *testing.T) {
	c := NewScanCursors(100, 0, nil)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 1000 {
				id := c.Put(KeyScan{Owner: g, Redis: uint64(i)})
				if s, ok := c.Get(id, g); ok && s.Redis != uint64(i) {
					t.Errorf("cursor %d holds %d, want %d", id, s.Redis, i)
				}
			}
		}()
	}
	wg.Wait()
	if c.Len() > 100 {
		t.Errorf("Len = %d over the bound", c.Len())
	}
}

func TestParseScan(t *testing.T) {
	args := func(s ...string) [][]byte {
		out := [][]byte{[]byte("SCAN")}
		for _, a := range s {
			out = append(out, []byte(a))
		}
		return out
	}
	// The errors, as redis-server 7.0.15 replies them.
	for _, tc := range []struct {
		args []string
		err  string
	}{
		{[]string{"abc"}, "ERR invalid cursor"},
		{[]string{"abc", "COUNT", "0"}, "ERR invalid cursor"},
		{[]string{"0", "COUNT", "0"}, "ERR syntax error"},
		{[]string{"0", "COUNT", "-1"}, "ERR syntax error"},
		{[]string{"0", "COUNT", "x"}, "ERR value is not an integer or out of range"},
		{[]string{"0", "MATCH"}, "ERR syntax error"},
		{[]string{"0", "TYPE"}, "ERR syntax error"},
		{[]string{"0", "bogus", "1"}, "ERR syntax error"},
		{[]string{"0"}, ""},
		{[]string{"-1"}, ""},
		{[]string{"18", "match", "a*", "count", "5", "type", "hash"}, ""},
	} {
		_, _, msg := ParseScan(args(tc.args...))
		if msg != tc.err {
			t.Errorf("SCAN %q: error %q, want %q", tc.args, msg, tc.err)
		}
	}
	cur, f, _ := ParseScan(args("42", "COUNT", "7", "MATCH", "u*", "TYPE", "STRING"))
	if cur != 42 || f.Count() != 7 {
		t.Errorf("cursor %d count %d", cur, f.Count())
	}
	for _, tc := range []struct {
		key  string
		kind Kind
		want bool
	}{
		{"user", KindString, true},
		{"user", KindHash, false},
		{"x", KindString, false},
	} {
		if got := f.keep([]byte(tc.key), tc.kind); got != tc.want {
			t.Errorf("keep(%q, %s) = %v", tc.key, tc.kind, got)
		}
	}
	// TYPE compares up to a NUL byte, as strcasecmp; an unknown type keeps nothing.
	_, f, _ = ParseScan(args("0", "TYPE", "Set\x00junk"))
	if !f.keep([]byte("k"), KindSet) {
		t.Error(`TYPE "Set\x00junk" does not keep a set`)
	}
	_, f, _ = ParseScan(args("0", "TYPE", "list"))
	if f.keep([]byte("k"), KindString) || f.keep([]byte("k"), KindSet) {
		t.Error("TYPE list keeps a key")
	}
	if _, f, _ = ParseScan(args("0")); f.Count() != 10 {
		t.Errorf("default COUNT %d", f.Count())
	}
	f = KeysFilter([]byte("*"))
	if !f.keep([]byte(""), KindString) {
		t.Error(`KEYS "*" skips matching, as Redis does`)
	}
	f = KeysFilter([]byte("a?c"))
	if !f.keep([]byte("abc"), KindHash) || f.keep([]byte("abcd"), KindHash) {
		t.Error("KEYS a?c")
	}
}

// keyspaceMapping has a served family, a family still in Redis and no catch-all.
const keyspaceMapping = `
table: %s
families:
  - name: user
    match: "user:{id}"
    type: hash
    pk: "user#{id}"
    sk: "profile"
    floor: complete
  - name: tag
    match: "tag:{t}"
    type: string
    pk: "tag#{t}"
    sk: "v"
    floor: complete
  - name: team
    match: "team:{t}"
    type: set
    pk: "team#{t}"
    sk: "v"
    floor: complete
  - name: cache
    match: "cache:{id}"
    type: string
    pk: "cache#{id}"
    sk: "v"
`

func served(r *Route) bool { return r.Family != nil && r.Family.Floor == StageComplete }

type scanEnv struct {
	e     *Engine
	db    *dynamodb.Client
	table string
	now   int64
}

func mustScanEnv(t *testing.T, endpointVar string) *scanEnv {
	t.Helper()
	db := testutil.MustDynamoClient(t, testutil.DynamoEndpoint(t, endpointVar))
	table := testutil.MustCreateTable(t, db)
	m, err := ParseMapping(fmt.Appendf(nil, keyspaceMapping, table), "keyspace.yaml")
	if err != nil {
		t.Fatal(err)
	}
	env := &scanEnv{db: db, table: table, now: time.Now().UnixMilli()}
	env.e, err = NewEngine(Options{Mapping: m, DB: db, Now: func() time.Time { return time.UnixMilli(env.now) }})
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// put writes the item hotswap writes for key (v nil: a tombstone).
func (env *scanEnv) put(t *testing.T, key string, v *Value) {
	t.Helper()
	r, ok, err := env.e.m.Route([]byte(key))
	if !ok || err != nil {
		t.Fatalf("route %q: %v %v", key, ok, err)
	}
	it, err := encodeItem(&r, []byte(key), v, 1, env.now/1000+3600)
	if err != nil {
		t.Fatal(err)
	}
	env.putItem(t, it)
}

func (env *scanEnv) putItem(t *testing.T, it map[string]types.AttributeValue) {
	t.Helper()
	if _, err := env.db.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String(env.table), Item: it}); err != nil {
		t.Fatal(err)
	}
}

func str(s string) *Value { return &Value{Kind: KindString, Str: []byte(s)} }

func sortedKeys(keys [][]byte) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = string(k)
	}
	sort.Strings(out)
	return out
}

func TestKeyspace_Dynamo(t *testing.T) {
	for _, ep := range []string{testutil.Dynalite, testutil.Moto} {
		t.Run(ep, func(t *testing.T) { testKeyspaceDynamo(t, mustScanEnv(t, ep)) })
	}
}

func testKeyspaceDynamo(t *testing.T, env *scanEnv) {
	ctx := context.Background()
	var want []string
	for i := range 25 {
		k := fmt.Sprintf("user:%d", i)
		env.put(t, k, &Value{Kind: KindHash, Hash: map[string][]byte{"name": []byte("n")}})
		want = append(want, k)
	}
	for i := range 15 {
		k := fmt.Sprintf("tag:%d", i)
		env.put(t, k, str("v"))
		want = append(want, k)
	}
	for i := range 7 {
		k := fmt.Sprintf("team:%d", i)
		env.put(t, k, &Value{Kind: KindSet, Set: map[string]struct{}{"m": {}}})
		want = append(want, k)
	}
	env.put(t, "tag:\xff\x00bin", str("binary key"))
	want = append(want, "tag:\xff\x00bin")
	sort.Strings(want)

	// Items that are no live key of a served family.
	env.put(t, "user:deleted", nil)                                                              // tombstone
	env.put(t, "tag:expired", &Value{Kind: KindString, Str: []byte("x"), ExpireAt: env.now - 1}) // expired
	env.put(t, "cache:1", str("family served from Redis"))
	env.putItem(t, map[string]types.AttributeValue{ // a control item
		"pk": &types.AttributeValueMemberS{Value: "_hotswap"}, "sk": &types.AttributeValueMemberS{Value: "fleet"},
	})
	env.putItem(t, map[string]types.AttributeValue{ // user:7's data under another item
		"pk": &types.AttributeValueMemberS{Value: "user#copy"}, "sk": &types.AttributeValueMemberS{Value: "profile"},
		AttrKey: &types.AttributeValueMemberS{Value: "user:7"}, AttrType: &types.AttributeValueMemberS{Value: "hash"},
	})
	env.putItem(t, map[string]types.AttributeValue{ // written by another service: no _key
		"pk": &types.AttributeValueMemberS{Value: "user#99"}, "sk": &types.AttributeValueMemberS{Value: "profile"},
		"name": &types.AttributeValueMemberS{Value: "native"},
	})
	// An item expiring exactly now is live (Redis: expired once now is past it).
	env.put(t, "tag:now", &Value{Kind: KindString, Str: []byte("x"), ExpireAt: env.now})
	want = append(want, "tag:now")
	sort.Strings(want)

	scanAll := func(args ...string) []string {
		t.Helper()
		a := [][]byte{[]byte("SCAN"), []byte("0")}
		for _, s := range args {
			a = append(a, []byte(s))
		}
		_, f, msg := ParseScan(a)
		if msg != "" {
			t.Fatal(msg)
		}
		var all [][]byte
		var pos ScanPos
		for calls := 0; ; calls++ {
			if calls > 1000 {
				t.Fatal("scan does not end")
			}
			keys, next, err := env.e.ScanKeys(ctx, served, &f, pos)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, keys...)
			if next == nil {
				return sortedKeys(all)
			}
			pos = next
		}
	}
	for _, count := range []string{"1", "3", "10", "1000"} {
		if got := scanAll("COUNT", count); !slices.Equal(got, want) {
			t.Errorf("COUNT %s: got %q\nwant %q", count, got, want)
		}
	}
	filter := func(pred func(string) bool) []string {
		var out []string
		for _, k := range want {
			if pred(k) {
				out = append(out, k)
			}
		}
		return out
	}
	isTag := func(k string) bool { return strings.HasPrefix(k, "tag:") }
	if got, w := scanAll("MATCH", "tag:*", "COUNT", "4"), filter(isTag); !slices.Equal(got, w) {
		t.Errorf("MATCH tag:*: got %q\nwant %q", got, w)
	}
	if got, w := scanAll("TYPE", "HASH"), filter(func(k string) bool { return strings.HasPrefix(k, "user:") }); !slices.Equal(got, w) {
		t.Errorf("TYPE HASH: got %q\nwant %q", got, w)
	}
	wantSets := filter(func(k string) bool { return strings.HasPrefix(k, "team:") })
	if got := scanAll("TYPE", "set", "MATCH", "t*", "COUNT", "2"); !slices.Equal(got, wantSets) {
		t.Errorf("TYPE set: got %q\nwant %q", got, wantSets)
	}
	if got := scanAll("TYPE", "list"); len(got) != 0 {
		t.Errorf("TYPE list: got %q", got)
	}

	f := KeysFilter([]byte("user:1*"))
	keys, err := env.e.Keys(ctx, served, &f)
	if err != nil {
		t.Fatal(err)
	}
	if got, w := sortedKeys(keys), filter(func(k string) bool { return strings.HasPrefix(k, "user:1") }); !slices.Equal(got, w) {
		t.Errorf("KEYS user:1*: got %q\nwant %q", got, w)
	}
	n, err := env.e.CountKeys(ctx, served)
	if err != nil || n != int64(len(want)) {
		t.Errorf("CountKeys = %d, %v; want %d", n, err, len(want))
	}

	// RandomKey: always a live key, and not always the same one.
	picked := map[string]bool{}
	for range 40 {
		k, ok, err := env.e.RandomKey(ctx, served)
		if err != nil || !ok {
			t.Fatalf("RandomKey: %q %v %v", k, ok, err)
		}
		if !slices.Contains(want, string(k)) {
			t.Fatalf("RandomKey returned %q, not a live key", k)
		}
		picked[string(k)] = true
	}
	if len(picked) < 3 {
		t.Errorf("RandomKey picked only %v in 40 calls", picked)
	}

	// FlushKeys deletes the served families' items, tombstones and expired included,
	// and nothing else.
	del, err := env.e.FlushKeys(ctx, served)
	if err != nil {
		t.Fatal(err)
	}
	if wantDel := len(want) + 2; del != wantDel {
		t.Errorf("FlushKeys deleted %d items, want %d", del, wantDel)
	}
	out, err := env.db.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(env.table)})
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, it := range out.Items {
		left = append(left, it["pk"].(*types.AttributeValueMemberS).Value)
	}
	sort.Strings(left)
	if w := []string{"_hotswap", "cache#1", "user#99", "user#copy"}; !slices.Equal(left, w) {
		t.Errorf("after FlushKeys the table holds %q, want %q", left, w)
	}
	if n, err := env.e.CountKeys(ctx, served); err != nil || n != 0 {
		t.Errorf("CountKeys after flush = %d, %v", n, err)
	}
	if k, ok, err := env.e.RandomKey(ctx, served); err != nil || ok {
		t.Errorf("RandomKey of an empty keyspace = %q, %v, %v", k, ok, err)
	}
}

// fakeStore answers Scan from a fixed page and BatchWriteItem by leaving items
// unprocessed a number of times.
type fakeStore struct {
	Store
	items       []map[string]types.AttributeValue
	unprocessed int // calls that leave half the batch unprocessed
	writes      [][]types.WriteRequest
}

func (f *fakeStore) Scan(ctx context.Context, in *dynamodb.ScanInput, _ ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error) {
	return &dynamodb.ScanOutput{Items: f.items, ScannedCount: int32(len(f.items))}, nil
}

func (f *fakeStore) BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	for table, reqs := range in.RequestItems {
		f.writes = append(f.writes, reqs)
		if f.unprocessed > 0 {
			f.unprocessed--
			return &dynamodb.BatchWriteItemOutput{UnprocessedItems: map[string][]types.WriteRequest{table: reqs[len(reqs)/2:]}}, nil
		}
	}
	return &dynamodb.BatchWriteItemOutput{}, nil
}

func TestFlushKeys_Unprocessed(t *testing.T) {
	m, err := ParseMapping([]byte("table: tbl\nfamilies:\n  - name: all\n    match: \"{key...}\"\n    pk: \"k#{key}\"\n    sk: v\n    floor: complete\n"), "all.yaml")
	if err != nil {
		t.Fatal(err)
	}
	fs := &fakeStore{unprocessed: 2}
	for i := range 30 {
		k := fmt.Sprintf("key%d", i)
		fs.items = append(fs.items, map[string]types.AttributeValue{
			"pk": &types.AttributeValueMemberS{Value: "k#" + k}, "sk": &types.AttributeValueMemberS{Value: "v"},
			AttrKey: &types.AttributeValueMemberS{Value: k}, AttrType: &types.AttributeValueMemberS{Value: "string"},
		})
	}
	e, err := NewEngine(Options{Mapping: m, DB: fs})
	if err != nil {
		t.Fatal(err)
	}
	n, err := e.FlushKeys(context.Background(), served)
	if err != nil || n != 30 {
		t.Fatalf("FlushKeys = %d, %v", n, err)
	}
	// 25 items, then the 13 it left, then 7, then the last 5 items.
	var sizes []int
	for _, w := range fs.writes {
		sizes = append(sizes, len(w))
	}
	if want := []int{25, 13, 7, 5}; !slices.Equal(sizes, want) {
		t.Errorf("batch sizes %v, want %v", sizes, want)
	}
	// DynamoDB that never processes everything: an error, not a loop.
	fs.writes, fs.unprocessed = nil, 1<<30
	defer func(d time.Duration) { batchWriteBackoff = d }(batchWriteBackoff)
	batchWriteBackoff = time.Millisecond
	if _, err := e.FlushKeys(context.Background(), served); err == nil || !strings.Contains(err.Error(), "unprocessed") {
		t.Errorf("FlushKeys against a store that never finishes: %v", err)
	}
}

// TestScanKeys_DeadItems: items that are no key count as Redis' empty buckets (up to
// 10*COUNT a call), so a keyspace of tombstones ends at once, as an empty Redis does.
func TestScanKeys_DeadItems(t *testing.T) {
	env := mustScanEnv(t, testutil.Dynalite)
	ctx := context.Background()
	for i := range 30 {
		env.put(t, fmt.Sprintf("user:%d", i), nil)
	}
	_, f, _ := ParseScan([][]byte{[]byte("SCAN"), []byte("0")})
	keys, next, err := env.e.ScanKeys(ctx, served, &f, nil)
	if err != nil || len(keys) != 0 || next != nil {
		t.Errorf("30 tombstones, COUNT 10: keys %q, next %v, err %v; want one empty page that ends", keys, next, err)
	}
	_, f, _ = ParseScan([][]byte{[]byte("SCAN"), []byte("0"), []byte("COUNT"), []byte("1")})
	calls := 0
	var pos ScanPos
	for {
		calls++
		_, next, err := env.e.ScanKeys(ctx, served, &f, pos)
		if err != nil {
			t.Fatal(err)
		}
		if next == nil {
			break
		}
		pos = next
	}
	// 10 items a call; DynamoDB only tells the end with one more, empty, page.
	if calls != 3 && calls != 4 {
		t.Errorf("30 tombstones, COUNT 1: %d calls, want 3 or 4 (10 items each)", calls)
	}
	// A live key among them counts as COUNT's bucket: MATCH filters after.
	env.put(t, "user:live", &Value{Kind: KindHash, Hash: map[string][]byte{"f": []byte("v")}})
	_, f, _ = ParseScan([][]byte{[]byte("SCAN"), []byte("0"), []byte("COUNT"), []byte("1000"), []byte("MATCH"), []byte("nothing")})
	if keys, next, err := env.e.ScanKeys(ctx, served, &f, nil); err != nil || len(keys) != 0 || next != nil {
		t.Errorf("MATCH nothing: keys %q, next %v, err %v", keys, next, err)
	}
}
