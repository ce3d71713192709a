package translate_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"hotswap/internal/testutil"
	"hotswap/proxy/command"
	"hotswap/translate"
	"hotswap/translate/storetest"
)

// registry is the user-registry mapping of DESIGN.md §2, served from DynamoDB, plus a
// catch-all for everything else.
const registry = `
table: %s
families:
  - name: user
    match: "user:{id}"
    type: hash
    pk: "user#{id}"
    sk: "profile"
    floor: complete
    numeric: [age]
  - name: user-teams
    match: "user:{id}:teams"
    type: set
    pk: "user#{id}"
    sk: "teams"
    flag: hotswap.user.stage
    floor: complete
  - name: user-email
    match: "email:{email}"
    type: string
    pk: "email#{email}"
    sk: "id"
    floor: complete
    read: eventual
  - name: rest
    match: "{key...}"
    pk: "k#{key}"
    sk: "v"
    floor: complete
`

type engineEnv struct {
	tb    testing.TB
	e     *translate.Engine
	db    *dynamodb.Client
	table string
	m     *translate.Mapping
}

func mustEngine(tb testing.TB, endpointVar string, wrap func(translate.Store) (db, eventual translate.Store)) *engineEnv {
	tb.Helper()
	db := testutil.MustDynamoClient(tb, testutil.DynamoEndpoint(tb, endpointVar))
	table := testutil.MustCreateTable(tb, db)
	m, err := translate.ParseMapping([]byte(fmt.Sprintf(registry, table)), "registry.yaml")
	if err != nil {
		tb.Fatal(err)
	}
	var st, ev translate.Store = db, nil
	if wrap != nil {
		st, ev = wrap(db)
	}
	e, err := translate.NewEngine(translate.Options{Mapping: m, DB: st, Eventual: ev})
	if err != nil {
		tb.Fatal(err)
	}
	return &engineEnv{tb: tb, e: e, db: db, table: table, m: m}
}

// do runs one command as the proxy would and returns the raw reply.
func (en *engineEnv) do(args ...string) string {
	en.tb.Helper()
	b := make([][]byte, len(args))
	for i, a := range args {
		b[i] = []byte(a)
	}
	info := command.Lookup(b)
	if info == nil {
		en.tb.Fatalf("unknown command %s", args[0])
	}
	keys := info.KeyIndexes(b, nil)
	routes := make([]translate.Route, len(keys))
	for i, ki := range keys {
		r, ok, err := en.m.Route(b[ki])
		if err != nil {
			return "-" + err.Error() + "\r\n"
		}
		if !ok {
			en.tb.Fatalf("key %q matches no family", b[ki])
		}
		routes[i] = r
	}
	return string(en.e.Exec(context.Background(), 2, &translate.Cmd{Args: b, Info: info, Keys: keys, Routes: routes}, nil))
}

func (en *engineEnv) must(want string, args ...string) {
	en.tb.Helper()
	if got := en.do(args...); got != want {
		en.tb.Errorf("%q: got %q, want %q", args, got, want)
	}
}

func (en *engineEnv) item(pk, sk string) map[string]types.AttributeValue {
	en.tb.Helper()
	out, err := en.db.GetItem(context.Background(), &dynamodb.GetItemInput{
		TableName:      aws.String(en.table),
		Key:            map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: pk}, "sk": &types.AttributeValueMemberS{Value: sk}},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		en.tb.Fatal(err)
	}
	return out.Item
}

// The item layout of docs/MAPPING.md, read back with the plain SDK.
func TestEngine_ItemLayout(t *testing.T) {
	en := mustEngine(t, testutil.Dynalite, nil)
	en.must(":5\r\n", "HSET", "user:42", "name", "Ann", "age", "37", "_private", "x", "", "empty-name", "bin", "\xff\x00")
	it := en.item("user#42", "profile")
	if v, ok := it["name"].(*types.AttributeValueMemberS); !ok || v.Value != "Ann" {
		t.Errorf("name: %#v", it["name"])
	}
	if v, ok := it["age"].(*types.AttributeValueMemberN); !ok || v.Value != "37" {
		t.Errorf("age (declared numeric): %#v", it["age"])
	}
	if v, ok := it["bin"].(*types.AttributeValueMemberB); !ok || !bytes.Equal(v.Value, []byte("\xff\x00")) {
		t.Errorf("bin: %#v", it["bin"])
	}
	if _, ok := it["_private"]; ok {
		t.Error("a field starting with _ must be escaped")
	}
	escaped := 0
	for name := range it {
		if strings.HasPrefix(name, "_~") {
			escaped++
		}
	}
	if escaped != 2 {
		t.Errorf("want 2 escaped field names (\"_private\", \"\"), item %v", it)
	}
	if v, ok := it["_type"].(*types.AttributeValueMemberS); !ok || v.Value != "hash" {
		t.Errorf("_type: %#v", it["_type"])
	}
	if v, ok := it["_ver"].(*types.AttributeValueMemberN); !ok || v.Value != "1" {
		t.Errorf("_ver: %#v", it["_ver"])
	}
	// Every field round-trips.
	en.must("$1\r\nx\r\n", "HGET", "user:42", "_private")
	en.must("$10\r\nempty-name\r\n", "HGET", "user:42", "")
	en.must("$2\r\n\xff\x00\r\n", "HGET", "user:42", "bin")
	// A numeric field that stops being an integer is stored as a string.
	en.must(":0\r\n", "HSET", "user:42", "age", "unknown")
	if _, ok := en.item("user#42", "profile")["age"].(*types.AttributeValueMemberS); !ok {
		t.Error("age is no longer an integer: want S")
	}

	// Sets: a string set, the empty member kept aside; a binary member makes it binary.
	en.must(":3\r\n", "SADD", "user:42:teams", "red", "blue", "")
	it = en.item("user#42", "teams")
	if v, ok := it["m"].(*types.AttributeValueMemberSS); !ok || len(v.Value) != 2 {
		t.Errorf("members: %#v", it["m"])
	}
	en.must(":1\r\n", "SADD", "user:42:teams", "\xfe")
	if _, ok := en.item("user#42", "teams")["m"].(*types.AttributeValueMemberBS); !ok {
		t.Error("a binary member: want BS")
	}
	en.must(":1\r\n", "SISMEMBER", "user:42:teams", "")

	// Strings, with expiry in ms and DynamoDB's TTL in seconds.
	en.must("+OK\r\n", "SET", "email:ann@example.com", "42", "PX", "100000")
	it = en.item("email#ann@example.com", "id")
	exp, ok1 := it["_exp"].(*types.AttributeValueMemberN)
	ttl, ok2 := it["_ttl"].(*types.AttributeValueMemberN)
	if !ok1 || !ok2 || len(exp.Value) != 13 || len(ttl.Value) != 10 {
		t.Errorf("expiry attributes: %#v %#v", it["_exp"], it["_ttl"])
	}

	// Deletes leave a tombstone that keeps the version.
	en.must(":1\r\n", "DEL", "user:42")
	it = en.item("user#42", "profile")
	if v, _ := it["_type"].(*types.AttributeValueMemberS); v == nil || v.Value != "tombstone" {
		t.Errorf("after DEL: %v", it)
	}
	if v, _ := it["_ver"].(*types.AttributeValueMemberN); v == nil || v.Value != "3" {
		t.Errorf("tombstone version: %v", it["_ver"])
	}
	en.must(":0\r\n", "EXISTS", "user:42")
	en.must(":1\r\n", "HSET", "user:42", "name", "Bob")
	if v, _ := en.item("user#42", "profile")["_ver"].(*types.AttributeValueMemberN); v == nil || v.Value != "4" {
		t.Errorf("re-created key version: %v", v)
	}
}

// A value of another type than the family holds is refused, and nothing changes.
func TestEngine_TypedFamily(t *testing.T) {
	en := mustEngine(t, testutil.Dynalite, nil)
	en.must(":1\r\n", "HSET", "user:1", "name", "Ann")
	got := en.do("SET", "user:2", "x")
	if got != "-ERR hotswap: SET would store a string in family user, which holds values of type hash\r\n" {
		t.Errorf("SET on a hash family: %q", got)
	}
	en.must(":0\r\n", "EXISTS", "user:2")
	en.must("-WRONGTYPE Operation against a key holding the wrong kind of value\r\n", "GET", "user:1")
	got = en.do("EVAL", "return 1", "1", "user:1")
	if !strings.Contains(got, "EVAL is not supported") || !strings.Contains(got, "family user") {
		t.Errorf("EVAL on a family key: %q", got)
	}
}

// Writes past DynamoDB's limits get a clear error and change nothing.
func TestEngine_Limits(t *testing.T) {
	en := mustEngine(t, testutil.Dynalite, nil)
	en.must("+OK\r\n", "SET", "big", "small")
	got := en.do("SET", "big", strings.Repeat("x", 500*1024))
	if !strings.HasPrefix(got, "-ERR hotswap: the value is too large for DynamoDB") {
		t.Errorf("500 KB value: %q", got)
	}
	en.must("$5\r\nsmall\r\n", "GET", "big")
	got = en.do("APPEND", "big", strings.Repeat("y", 420*1024))
	if !strings.HasPrefix(got, "-ERR hotswap: the value is too large") {
		t.Errorf("APPEND past 400 KB: %q", got)
	}
	en.must("$5\r\nsmall\r\n", "GET", "big")
	// A key whose pk would pass 2048 bytes.
	got = en.do("GET", strings.Repeat("k", 3000))
	if !strings.HasPrefix(got, "-ERR hotswap: ") {
		t.Errorf("3000-byte key: %q", got)
	}
	// Many fields at once: one whole-item write, not an expression past 4 KB.
	args := []string{"HSET", "user:many"}
	for i := 0; i < 500; i++ {
		args = append(args, fmt.Sprintf("field-%03d", i), "value")
	}
	en.must(":500\r\n", args...)
	en.must(":500\r\n", "HLEN", "user:many")
}

// An item whose expiry passed is a missing key, and a write starts from empty, though
// DynamoDB has not deleted it yet.
func TestEngine_ExpiredItems(t *testing.T) {
	en := mustEngine(t, testutil.Dynalite, nil)
	past := time.Now().Add(-time.Minute).UnixMilli()
	_, err := en.db.PutItem(context.Background(), &dynamodb.PutItemInput{
		TableName: aws.String(en.table),
		Item: map[string]types.AttributeValue{
			"pk": &types.AttributeValueMemberS{Value: "user#7"}, "sk": &types.AttributeValueMemberS{Value: "profile"},
			"_key": &types.AttributeValueMemberS{Value: "user:7"}, "_type": &types.AttributeValueMemberS{Value: "hash"},
			"_ver": &types.AttributeValueMemberN{Value: "5"}, "_exp": &types.AttributeValueMemberN{Value: fmt.Sprint(past)},
			"old": &types.AttributeValueMemberS{Value: "stale"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	en.must(":0\r\n", "EXISTS", "user:7")
	en.must(":-2\r\n", "TTL", "user:7")
	en.must("$-1\r\n", "HGET", "user:7", "old")
	en.must(":1\r\n", "HSET", "user:7", "new", "1")
	en.must("*2\r\n$3\r\nnew\r\n$1\r\n1\r\n", "HGETALL", "user:7")
	en.must(":-1\r\n", "TTL", "user:7")
}

// One DynamoDB call per single-key command in the common case.
func TestEngine_OneCallPerCommand(t *testing.T) {
	var counting *storetest.CountingStore
	en := mustEngine(t, testutil.Dynalite, func(db translate.Store) (translate.Store, translate.Store) {
		counting = storetest.NewCountingStore(db)
		return counting, nil
	})
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"HSET", "user:1", "name", "Ann", "age", "30"}, ":2\r\n"},
		{[]string{"HSET", "user:1", "age", "31"}, ":0\r\n"},
		{[]string{"HGETALL", "user:1"}, ""},
		{[]string{"HGET", "user:1", "name"}, "$3\r\nAnn\r\n"},
		{[]string{"SADD", "user:1:teams", "red", "blue"}, ":2\r\n"},
		{[]string{"SADD", "user:1:teams", "red", "green"}, ":1\r\n"},
		{[]string{"SMEMBERS", "user:1:teams"}, ""},
		{[]string{"SET", "str", "v"}, "+OK\r\n"},
		{[]string{"SET", "str", "w", "EX", "100"}, "+OK\r\n"},
		{[]string{"GET", "str"}, "$1\r\nw\r\n"},
	} {
		counting.Reset()
		got := en.do(tc.args...)
		if tc.want != "" && got != tc.want {
			t.Errorf("%q: %q, want %q", tc.args, got, tc.want)
		}
		if n := counting.Total(); n != 1 {
			t.Errorf("%q: %d DynamoDB calls (%s), want 1", tc.args, n, counting)
		}
	}
}

// Strong families read their own writes even from a store that serves stale data to
// eventually consistent reads; eventual families may see the stale data (which shows
// the wrapper does serve it).
func TestEngine_StrongNeverStale(t *testing.T) {
	var stale *storetest.StaleStore
	en := mustEngine(t, testutil.Dynalite, func(db translate.Store) (translate.Store, translate.Store) {
		stale = storetest.NewStaleStore(db)
		return stale, stale
	})
	for i := 0; i < 5; i++ {
		v := fmt.Sprint(i)
		en.do("HSET", "user:9", "n", v)
		en.must(fmt.Sprintf("$1\r\n%s\r\n", v), "HGET", "user:9", "n")
		en.do("SADD", "user:9:teams", "t"+v)
		en.must(fmt.Sprintf(":%d\r\n", i+1), "SCARD", "user:9:teams")
		en.do("SET", "plain", v)
		en.must(fmt.Sprintf("$1\r\n%s\r\n", v), "GET", "plain")
	}
	if n := stale.StaleReads(); n != 0 {
		t.Fatalf("strong families were served %d stale reads", n)
	}
	en.must("+OK\r\n", "SET", "email:a@b.c", "9")
	if got := en.do("GET", "email:a@b.c"); got != "$-1\r\n" || stale.StaleReads() == 0 {
		t.Errorf("eventual family through the stale store: %q, %d stale reads; want the stale nil", got, stale.StaleReads())
	}
}

// The fast paths' replies on moto too (which leaves unchanged attributes out of
// UPDATED_OLD): SADD of members already there, HSET of fields already set.
func TestEngine_FastPathRepliesOnMoto(t *testing.T) {
	en := mustEngine(t, testutil.Moto, nil)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"SADD", "user:1:teams", "red", "blue"}, ":2\r\n"},
		{[]string{"SADD", "user:1:teams", "red"}, ":0\r\n"},
		{[]string{"SADD", "user:1:teams", "red", "green"}, ":1\r\n"},
		{[]string{"HSET", "user:1", "name", "Ann"}, ":1\r\n"},
		{[]string{"HSET", "user:1", "name", "Ann"}, ":0\r\n"},
		{[]string{"HSET", "user:1", "name", "Bob", "age", "3"}, ":1\r\n"},
	} {
		if got := en.do(tc.args...); got != tc.want {
			t.Errorf("%q: %q, want %q", tc.args, got, tc.want)
		}
	}
}

// replayStore sends every conditional write twice, as the SDK does when a reply is
// lost, and answers with the second reply (a conflict, since the first landed).
type replayStore struct {
	translate.Store
}

func (s replayStore) PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	if _, err := s.Store.PutItem(ctx, in, optFns...); err != nil {
		return nil, err
	}
	return s.Store.PutItem(ctx, in, optFns...)
}

func (s replayStore) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, optFns ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	if _, err := s.Store.TransactWriteItems(ctx, in, optFns...); err != nil {
		return nil, err
	}
	return s.Store.TransactWriteItems(ctx, in, optFns...)
}

// A write whose reply was lost and whose retry then fails its condition is found
// landed (by its write token), not run a second time.
func TestEngine_RetriedWriteAppliesOnce(t *testing.T) {
	for _, ep := range []string{testutil.Dynalite, testutil.Moto} {
		t.Run(ep, func(t *testing.T) {
			en := mustEngine(t, ep, func(db translate.Store) (translate.Store, translate.Store) { return replayStore{db}, nil })
			en.must(":1\r\n", "INCR", "str:n")
			en.must(":2\r\n", "INCR", "str:n")
			en.must("$1\r\n2\r\n", "GET", "str:n")
			en.must(":3\r\n", "APPEND", "str:s", "abc")
			en.must(":6\r\n", "APPEND", "str:s", "def")
			en.must(":5\r\n", "HINCRBY", "user:1", "n", "5")
			en.must(":1\r\n", "MSETNX", "str:a", "1", "str:b", "2")
			en.must("*2\r\n$1\r\n1\r\n$1\r\n2\r\n", "MGET", "str:a", "str:b")
		})
	}
}
