package storetest

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// Op names one operation of Store.
type Op int

// The operations of Store, in the order of its method set.
const (
	OpGetItem Op = iota
	OpPutItem
	OpUpdateItem
	OpDeleteItem
	OpQuery
	OpScan
	OpBatchGetItem
	OpBatchWriteItem
	OpTransactGetItems
	OpTransactWriteItems
	numOps
)

func (o Op) String() string {
	switch o {
	case OpGetItem:
		return "GetItem"
	case OpPutItem:
		return "PutItem"
	case OpUpdateItem:
		return "UpdateItem"
	case OpDeleteItem:
		return "DeleteItem"
	case OpQuery:
		return "Query"
	case OpScan:
		return "Scan"
	case OpBatchGetItem:
		return "BatchGetItem"
	case OpBatchWriteItem:
		return "BatchWriteItem"
	case OpTransactGetItems:
		return "TransactGetItems"
	case OpTransactWriteItems:
		return "TransactWriteItems"
	}
	return fmt.Sprintf("Op(%d)", int(o))
}

// CountingStore passes every call to the Store it wraps and counts it, failed calls
// included, per operation and in order. It is safe for concurrent use.
type CountingStore struct {
	inner Store

	mu     sync.Mutex
	counts [numOps]int
	calls  []Op
}

// NewCountingStore wraps inner.
func NewCountingStore(inner Store) *CountingStore {
	return &CountingStore{inner: inner}
}

func (c *CountingStore) count(op Op) {
	c.mu.Lock()
	c.counts[op]++
	c.calls = append(c.calls, op)
	c.mu.Unlock()
}

// Count returns the calls of op since the last Reset.
func (c *CountingStore) Count(op Op) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.counts[op]
}

// Total returns the calls of every operation since the last Reset.
func (c *CountingStore) Total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.calls)
}

// Calls returns the operations called since the last Reset, in the order they were
// called.
func (c *CountingStore) Calls() []Op {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Op(nil), c.calls...)
}

// String lists the non-zero counts, e.g. "GetItem=1 PutItem=2", for test failures.
func (c *CountingStore) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var b strings.Builder
	for op, n := range c.counts {
		if n == 0 {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%d", Op(op), n)
	}
	if b.Len() == 0 {
		return "no calls"
	}
	return b.String()
}

// Reset zeroes the counts. Calls in flight may be counted before or after it.
func (c *CountingStore) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.counts = [numOps]int{}
	c.calls = nil
}

func (c *CountingStore) GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	c.count(OpGetItem)
	return c.inner.GetItem(ctx, in, optFns...)
}

func (c *CountingStore) PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	c.count(OpPutItem)
	return c.inner.PutItem(ctx, in, optFns...)
}

func (c *CountingStore) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	c.count(OpUpdateItem)
	return c.inner.UpdateItem(ctx, in, optFns...)
}

func (c *CountingStore) DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	c.count(OpDeleteItem)
	return c.inner.DeleteItem(ctx, in, optFns...)
}

func (c *CountingStore) Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	c.count(OpQuery)
	return c.inner.Query(ctx, in, optFns...)
}

func (c *CountingStore) Scan(ctx context.Context, in *dynamodb.ScanInput, optFns ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error) {
	c.count(OpScan)
	return c.inner.Scan(ctx, in, optFns...)
}

func (c *CountingStore) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	c.count(OpBatchGetItem)
	return c.inner.BatchGetItem(ctx, in, optFns...)
}

func (c *CountingStore) BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	c.count(OpBatchWriteItem)
	return c.inner.BatchWriteItem(ctx, in, optFns...)
}

func (c *CountingStore) TransactGetItems(ctx context.Context, in *dynamodb.TransactGetItemsInput, optFns ...func(*dynamodb.Options)) (*dynamodb.TransactGetItemsOutput, error) {
	c.count(OpTransactGetItems)
	return c.inner.TransactGetItems(ctx, in, optFns...)
}

func (c *CountingStore) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, optFns ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	c.count(OpTransactWriteItems)
	return c.inner.TransactWriteItems(ctx, in, optFns...)
}
