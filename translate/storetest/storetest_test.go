package storetest_test

import (
	"context"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"hotswap/translate"
	"hotswap/translate/storetest"
)

// Both wrappers are translate.Stores, and a translate.Store is a storetest.Store.
var (
	_ translate.Store = (*storetest.StaleStore)(nil)
	_ translate.Store = (*storetest.CountingStore)(nil)
	_ storetest.Store = translate.Store(nil)
)

func ctxT(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	tb.Cleanup(cancel)
	return ctx
}

func key(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: pk},
		"sk": &types.AttributeValueMemberS{Value: sk},
	}
}

func item(pk, sk, v string) map[string]types.AttributeValue {
	it := key(pk, sk)
	it["v"] = &types.AttributeValueMemberS{Value: v}
	it["w"] = &types.AttributeValueMemberS{Value: "w" + v}
	return it
}

func val(it map[string]types.AttributeValue) string {
	if it == nil {
		return "<none>"
	}
	if s, ok := it["v"].(*types.AttributeValueMemberS); ok {
		return s.Value
	}
	return "<no v>"
}

// vals returns the "v" of items, sorted.
func vals(items []map[string]types.AttributeValue) []string {
	out := []string{}
	for _, it := range items {
		out = append(out, val(it))
	}
	sort.Strings(out)
	return out
}

type fixture struct {
	t     *testing.T
	ctx   context.Context
	raw   *dynamodb.Client
	table string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	endpoint := storetest.MustDynalite(t)
	raw := storetest.MustClient(t, endpoint)
	return &fixture{t: t, ctx: ctxT(t), raw: raw, table: storetest.MustTable(t, raw)}
}

func (f *fixture) put(st storetest.Store, it map[string]types.AttributeValue) {
	f.t.Helper()
	if _, err := st.PutItem(f.ctx, &dynamodb.PutItemInput{TableName: aws.String(f.table), Item: it}); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) get(st storetest.Store, k map[string]types.AttributeValue, consistent bool) string {
	f.t.Helper()
	out, err := st.GetItem(f.ctx, &dynamodb.GetItemInput{TableName: aws.String(f.table), Key: k, ConsistentRead: aws.Bool(consistent)})
	if err != nil {
		f.t.Fatal(err)
	}
	return val(out.Item)
}

func (f *fixture) query(st storetest.Store, pk string, consistent bool) []string {
	f.t.Helper()
	out, err := st.Query(f.ctx, &dynamodb.QueryInput{
		TableName:                 aws.String(f.table),
		KeyConditionExpression:    aws.String("#pk = :pk"),
		ExpressionAttributeNames:  map[string]string{"#pk": "pk"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: pk}},
		ConsistentRead:            aws.Bool(consistent),
	})
	if err != nil {
		f.t.Fatal(err)
	}
	if int(out.Count) != len(out.Items) {
		f.t.Errorf("query: Count %d, %d items", out.Count, len(out.Items))
	}
	return vals(out.Items)
}

func (f *fixture) scan(st storetest.Store, consistent bool) []string {
	f.t.Helper()
	out, err := st.Scan(f.ctx, &dynamodb.ScanInput{TableName: aws.String(f.table), ConsistentRead: aws.Bool(consistent)})
	if err != nil {
		f.t.Fatal(err)
	}
	return vals(out.Items)
}

func (f *fixture) batchGet(st storetest.Store, consistent bool, keys ...map[string]types.AttributeValue) []string {
	f.t.Helper()
	out, err := st.BatchGetItem(f.ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{
		f.table: {Keys: keys, ConsistentRead: aws.Bool(consistent)},
	}})
	if err != nil {
		f.t.Fatal(err)
	}
	return vals(out.Responses[f.table])
}

func same(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s: got %v, want %v", what, got, want)
	}
}

// A key first seen by a write: eventual reads return what was there before it.
func TestStaleStore_WriteFirst(t *testing.T) {
	f := newFixture(t)
	s := storetest.NewStaleStore(f.raw)
	f.put(s, item("p", "a", "1"))
	f.put(s, item("p", "a", "2"))

	same(t, "strong get", f.get(s, key("p", "a"), true), "2")
	same(t, "eventual get", f.get(s, key("p", "a"), false), "<none>")
	same(t, "strong query", f.query(s, "p", true), []string{"2"})
	same(t, "eventual query", f.query(s, "p", false), []string{})
	same(t, "strong scan", f.scan(s, true), []string{"2"})
	same(t, "eventual scan", f.scan(s, false), []string{})
	same(t, "strong batch get", f.batchGet(s, true, key("p", "a")), []string{"2"})
	same(t, "eventual batch get", f.batchGet(s, false, key("p", "a")), []string{})
	if n := s.StaleReads(); n != 4 {
		t.Errorf("StaleReads %d, want 4", n)
	}

	// Forget: the next sight takes a new snapshot.
	s.Forget()
	same(t, "eventual get after Forget", f.get(s, key("p", "a"), false), "2")
	f.put(s, item("p", "a", "3"))
	same(t, "eventual get after Forget and a write", f.get(s, key("p", "a"), false), "2")
	same(t, "strong get after Forget and a write", f.get(s, key("p", "a"), true), "3")
}

// A key first seen by a read keeps what that read returned, including after it is
// deleted (GetItem and BatchGetItem bring it back).
func TestStaleStore_ReadFirst(t *testing.T) {
	f := newFixture(t)
	f.put(f.raw, item("p", "a", "1"))
	f.put(f.raw, item("p", "b", "1"))
	s := storetest.NewStaleStore(f.raw)
	same(t, "first query", f.query(s, "p", true), []string{"1", "1"})

	f.put(s, item("p", "a", "2"))
	if _, err := s.UpdateItem(f.ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(f.table), Key: key("p", "b"),
		UpdateExpression:          aws.String("SET #v = :v"),
		ExpressionAttributeNames:  map[string]string{"#v": "v"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":v": &types.AttributeValueMemberS{Value: "2"}},
	}); err != nil {
		t.Fatal(err)
	}
	f.put(s, item("p", "c", "2")) // new: no snapshot but absence
	same(t, "strong query", f.query(s, "p", true), []string{"2", "2", "2"})
	same(t, "eventual query", f.query(s, "p", false), []string{"1", "1"})

	if _, err := s.DeleteItem(f.ctx, &dynamodb.DeleteItemInput{TableName: aws.String(f.table), Key: key("p", "a")}); err != nil {
		t.Fatal(err)
	}
	same(t, "strong get of deleted", f.get(s, key("p", "a"), true), "<none>")
	same(t, "eventual get of deleted", f.get(s, key("p", "a"), false), "1")
	same(t, "eventual batch get", f.batchGet(s, false, key("p", "a"), key("p", "b"), key("p", "c")), []string{"1", "1"})
	same(t, "strong batch get", f.batchGet(s, true, key("p", "a"), key("p", "b"), key("p", "c")), []string{"2", "2"})

	// A projection applies to the snapshot too.
	out, err := s.GetItem(f.ctx, &dynamodb.GetItemInput{
		TableName: aws.String(f.table), Key: key("p", "b"),
		ProjectionExpression:     aws.String("#w, sk"),
		ExpressionAttributeNames: map[string]string{"#w": "w"},
	})
	if err != nil {
		t.Fatal(err)
	}
	same(t, "projected eventual get", out.Item, map[string]types.AttributeValue{
		"w":  &types.AttributeValueMemberS{Value: "w1"},
		"sk": &types.AttributeValueMemberS{Value: "b"},
	})
}

// Batch and transactional writes take snapshots too; TransactGetItems is strong.
func TestStaleStore_BatchWrites(t *testing.T) {
	f := newFixture(t)
	f.put(f.raw, item("p", "a", "1"))
	s := storetest.NewStaleStore(f.raw)
	if _, err := s.BatchWriteItem(f.ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{
		f.table: {
			{PutRequest: &types.PutRequest{Item: item("p", "b", "2")}},
			{DeleteRequest: &types.DeleteRequest{Key: key("p", "a")}},
		},
	}}); err != nil {
		t.Fatal(err)
	}
	same(t, "eventual a", f.get(s, key("p", "a"), false), "1")
	same(t, "eventual b", f.get(s, key("p", "b"), false), "<none>")
	out, err := s.TransactGetItems(f.ctx, &dynamodb.TransactGetItemsInput{TransactItems: []types.TransactGetItem{
		{Get: &types.Get{TableName: aws.String(f.table), Key: key("p", "b")}},
	}})
	if err != nil {
		// dynalite does not implement TransactGetItems; the pass-through is what matters.
		t.Logf("transact get items: %v", err)
	} else {
		same(t, "transact get", val(out.Responses[0].Item), "2")
	}
}

func TestCountingStore(t *testing.T) {
	f := newFixture(t)
	c := storetest.NewCountingStore(f.raw)
	f.put(c, item("p", "a", "1"))
	same(t, "get", f.get(c, key("p", "a"), true), "1")
	f.query(c, "p", true)
	f.scan(c, false)
	f.batchGet(c, false, key("p", "a"))
	if _, err := c.DeleteItem(f.ctx, &dynamodb.DeleteItemInput{TableName: aws.String(f.table), Key: key("p", "a")}); err != nil {
		t.Fatal(err)
	}
	// A failed call counts too.
	_, _ = c.UpdateItem(f.ctx, &dynamodb.UpdateItemInput{TableName: aws.String(f.table + "-missing"), Key: key("p", "a")})

	same(t, "calls", c.Calls(), []storetest.Op{storetest.OpPutItem, storetest.OpGetItem, storetest.OpQuery, storetest.OpScan,
		storetest.OpBatchGetItem, storetest.OpDeleteItem, storetest.OpUpdateItem})
	same(t, "total", c.Total(), 7)
	same(t, "get count", c.Count(storetest.OpGetItem), 1)
	same(t, "string", c.String(), "GetItem=1 PutItem=1 UpdateItem=1 DeleteItem=1 Query=1 Scan=1 BatchGetItem=1")

	c.Reset()
	same(t, "total after reset", c.Total(), 0)
	same(t, "string after reset", c.String(), "no calls")

	// StaleStore's own snapshot reads show up when CountingStore is inside it.
	s := storetest.NewStaleStore(c)
	f.put(s, item("p", "z", "1"))
	same(t, "stale over counting", c.Calls(), []storetest.Op{storetest.OpGetItem, storetest.OpPutItem})
}
