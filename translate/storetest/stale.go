package storetest

import (
	"context"
	"maps"
	"reflect"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// DefaultKeyNames are the key attributes of hotswap's table (translate.AttrPK and
// translate.AttrSK).
func DefaultKeyNames() []string { return []string{"pk", "sk"} }

// StaleStore makes eventual consistency as bad as DynamoDB allows, and visible: reads
// that are not strongly consistent (GetItem, BatchGetItem, Query and Scan without
// ConsistentRead) return each item as it was when StaleStore first saw its key:
//
//   - before the first write through StaleStore to the key (it reads the key with a
//     strongly consistent GetItem just before passing the write on), or
//   - at the first read of the key that returned whole items (no projection), if the
//     key was read first.
//
// So after "write a, then b", an eventual read returns what was there before a
// (nothing, for a new key), and a strong read returns b. Strongly consistent reads,
// TransactGetItems (always strong) and every write pass through unchanged.
//
// Limits: a Query or Scan can only replace or drop the items the real read returned,
// so an item deleted since its snapshot is not brought back by them (GetItem and
// BatchGetItem do bring it back); projections are applied to snapshots by top-level
// attribute only. StaleStore is safe for concurrent use.
type StaleStore struct {
	inner Store
	keys  []string

	mu    sync.Mutex
	snaps map[string]snapshot
	stale int
}

// snapshot is an item as first seen; item nil means the key did not exist.
type snapshot struct {
	item map[string]types.AttributeValue
}

// NewStaleStore wraps inner. keyNames are the table's key attributes, partition key
// first; none means DefaultKeyNames.
func NewStaleStore(inner Store, keyNames ...string) *StaleStore {
	if len(keyNames) == 0 {
		keyNames = DefaultKeyNames()
	}
	return &StaleStore{inner: inner, keys: keyNames, snaps: map[string]snapshot{}}
}

// StaleReads counts the items eventual reads returned from a snapshot that differed
// from what the store holds now (including items dropped or brought back). A test
// that shows strong reads are never stale can check that this moved for eventual
// ones, i.e. that StaleStore was in the path.
func (s *StaleStore) StaleReads() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stale
}

// Forget drops every snapshot: the next sight of each key takes a new one.
func (s *StaleStore) Forget() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.snaps = map[string]snapshot{}
}

// keyOf encodes the primary key of item (or of a Key map) in table; ok is false when
// item lacks the partition key or a key attribute is not S, N or B.
func (s *StaleStore) keyOf(table *string, item map[string]types.AttributeValue) (string, bool) {
	var b strings.Builder
	b.WriteString(aws.ToString(table))
	for i, name := range s.keys {
		v, present := item[name]
		if !present {
			if i == 0 {
				return "", false
			}
			continue
		}
		b.WriteByte(0)
		b.WriteString(name)
		switch v := v.(type) {
		case *types.AttributeValueMemberS:
			b.WriteString("\x00S")
			b.WriteString(v.Value)
		case *types.AttributeValueMemberN:
			b.WriteString("\x00N")
			b.WriteString(v.Value)
		case *types.AttributeValueMemberB:
			b.WriteString("\x00B")
			b.Write(v.Value)
		default:
			return "", false
		}
	}
	return b.String(), true
}

// record keeps item as the snapshot of key unless it has one.
func (s *StaleStore) record(key string, item map[string]types.AttributeValue) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.snaps[key]; !ok {
		s.snaps[key] = snapshot{item: maps.Clone(item)}
	}
}

func (s *StaleStore) lookup(key string) (snapshot, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	snap, ok := s.snaps[key]
	return snap, ok
}

// serve returns what an eventual read of key returns instead of current, and counts
// it when it differs.
func (s *StaleStore) serve(snap snapshot, current map[string]types.AttributeValue, p projection) map[string]types.AttributeValue {
	served := p.apply(snap.item)
	if !reflect.DeepEqual(served, current) {
		s.mu.Lock()
		s.stale++
		s.mu.Unlock()
	}
	return served
}

// beforeWrite snapshots the keys a write is about to change, if they have none yet.
func (s *StaleStore) beforeWrite(ctx context.Context, table *string, key map[string]types.AttributeValue) {
	k, ok := s.keyOf(table, key)
	if !ok {
		return
	}
	if _, seen := s.lookup(k); seen {
		return
	}
	only := make(map[string]types.AttributeValue, len(s.keys))
	for _, n := range s.keys {
		if v, ok := key[n]; ok {
			only[n] = v
		}
	}
	out, err := s.inner.GetItem(ctx, &dynamodb.GetItemInput{TableName: table, Key: only, ConsistentRead: aws.Bool(true)})
	if err != nil {
		// The write will most likely fail the same way; without a snapshot the key
		// is simply not stale.
		return
	}
	s.record(k, out.Item)
}

// projection is the top-level attributes a read asks for; all when whole.
type projection struct {
	whole bool
	attrs map[string]bool
}

func newProjection(expr *string, names map[string]string, attrsToGet []string) projection {
	if expr == nil && len(attrsToGet) == 0 {
		return projection{whole: true}
	}
	p := projection{attrs: map[string]bool{}}
	for _, a := range attrsToGet {
		p.attrs[a] = true
	}
	if expr != nil {
		for path := range strings.SplitSeq(*expr, ",") {
			path = strings.TrimSpace(path)
			if i := strings.IndexAny(path, ".["); i >= 0 {
				path = path[:i]
			}
			if n, ok := names[path]; ok {
				path = n
			}
			p.attrs[path] = true
		}
	}
	return p
}

func (p projection) apply(item map[string]types.AttributeValue) map[string]types.AttributeValue {
	if item == nil {
		return nil
	}
	if p.whole {
		return maps.Clone(item)
	}
	out := map[string]types.AttributeValue{}
	for k, v := range item {
		if p.attrs[k] {
			out[k] = v
		}
	}
	return out
}

func (s *StaleStore) GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	out, err := s.inner.GetItem(ctx, in, optFns...)
	if err != nil {
		return out, err
	}
	k, ok := s.keyOf(in.TableName, in.Key)
	if !ok {
		return out, nil
	}
	p := newProjection(in.ProjectionExpression, in.ExpressionAttributeNames, in.AttributesToGet)
	snap, seen := s.lookup(k)
	switch {
	case !seen:
		if p.whole {
			s.record(k, out.Item)
		}
	case !aws.ToBool(in.ConsistentRead):
		out.Item = s.serve(snap, out.Item, p)
	}
	return out, nil
}

func (s *StaleStore) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	out, err := s.inner.BatchGetItem(ctx, in, optFns...)
	if err != nil {
		return out, err
	}
	if out.Responses == nil {
		out.Responses = map[string][]map[string]types.AttributeValue{}
	}
	for table, ka := range in.RequestItems {
		tp := aws.String(table)
		p := newProjection(ka.ProjectionExpression, ka.ExpressionAttributeNames, ka.AttributesToGet)
		current := map[string]map[string]types.AttributeValue{}
		var unidentified []map[string]types.AttributeValue
		for _, item := range out.Responses[table] {
			if k, ok := s.keyOf(tp, item); ok {
				current[k] = item
			} else {
				unidentified = append(unidentified, item)
			}
		}
		unprocessed := map[string]bool{}
		if u, ok := out.UnprocessedKeys[table]; ok {
			for _, key := range u.Keys {
				if k, ok := s.keyOf(tp, key); ok {
					unprocessed[k] = true
				}
			}
		}
		consistent := aws.ToBool(ka.ConsistentRead)
		items := unidentified
		for _, key := range ka.Keys {
			k, ok := s.keyOf(tp, key)
			if !ok {
				continue
			}
			cur, found := current[k]
			delete(current, k)
			if unprocessed[k] {
				continue
			}
			snap, seen := s.lookup(k)
			switch {
			case !seen:
				if p.whole {
					s.record(k, cur)
				}
				if found {
					items = append(items, cur)
				}
			case consistent:
				if found {
					items = append(items, cur)
				}
			default:
				if served := s.serve(snap, cur, p); served != nil {
					items = append(items, served)
				}
			}
		}
		// Items the server returned for keys not asked for (it does not) are kept.
		for _, item := range current {
			items = append(items, item)
		}
		out.Responses[table] = items
	}
	return out, nil
}

// readItems applies StaleStore to the items of a Query or Scan.
func (s *StaleStore) readItems(table *string, consistent bool, p projection, in []map[string]types.AttributeValue) []map[string]types.AttributeValue {
	var items []map[string]types.AttributeValue
	for _, item := range in {
		k, ok := s.keyOf(table, item)
		if !ok {
			items = append(items, item)
			continue
		}
		snap, seen := s.lookup(k)
		switch {
		case !seen:
			if p.whole {
				s.record(k, item)
			}
			items = append(items, item)
		case consistent:
			items = append(items, item)
		default:
			if served := s.serve(snap, item, p); served != nil {
				items = append(items, served)
			}
		}
	}
	return items
}

func (s *StaleStore) Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	out, err := s.inner.Query(ctx, in, optFns...)
	if err != nil || in.Select == types.SelectCount {
		return out, err
	}
	p := newProjection(in.ProjectionExpression, in.ExpressionAttributeNames, in.AttributesToGet)
	out.Items = s.readItems(in.TableName, aws.ToBool(in.ConsistentRead), p, out.Items)
	out.Count = int32(len(out.Items))
	return out, nil
}

func (s *StaleStore) Scan(ctx context.Context, in *dynamodb.ScanInput, optFns ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error) {
	out, err := s.inner.Scan(ctx, in, optFns...)
	if err != nil || in.Select == types.SelectCount {
		return out, err
	}
	p := newProjection(in.ProjectionExpression, in.ExpressionAttributeNames, in.AttributesToGet)
	out.Items = s.readItems(in.TableName, aws.ToBool(in.ConsistentRead), p, out.Items)
	out.Count = int32(len(out.Items))
	return out, nil
}

func (s *StaleStore) TransactGetItems(ctx context.Context, in *dynamodb.TransactGetItemsInput, optFns ...func(*dynamodb.Options)) (*dynamodb.TransactGetItemsOutput, error) {
	return s.inner.TransactGetItems(ctx, in, optFns...)
}

func (s *StaleStore) PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	s.beforeWrite(ctx, in.TableName, in.Item)
	return s.inner.PutItem(ctx, in, optFns...)
}

func (s *StaleStore) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	s.beforeWrite(ctx, in.TableName, in.Key)
	return s.inner.UpdateItem(ctx, in, optFns...)
}

func (s *StaleStore) DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	s.beforeWrite(ctx, in.TableName, in.Key)
	return s.inner.DeleteItem(ctx, in, optFns...)
}

func (s *StaleStore) BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	for table, reqs := range in.RequestItems {
		for _, r := range reqs {
			switch {
			case r.PutRequest != nil:
				s.beforeWrite(ctx, aws.String(table), r.PutRequest.Item)
			case r.DeleteRequest != nil:
				s.beforeWrite(ctx, aws.String(table), r.DeleteRequest.Key)
			}
		}
	}
	return s.inner.BatchWriteItem(ctx, in, optFns...)
}

func (s *StaleStore) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, optFns ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	for _, it := range in.TransactItems {
		switch {
		case it.Put != nil:
			s.beforeWrite(ctx, it.Put.TableName, it.Put.Item)
		case it.Update != nil:
			s.beforeWrite(ctx, it.Update.TableName, it.Update.Key)
		case it.Delete != nil:
			s.beforeWrite(ctx, it.Delete.TableName, it.Delete.Key)
		}
	}
	return s.inner.TransactWriteItems(ctx, in, optFns...)
}
