package translate

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// countingStore counts the calls the engine makes, per operation, for /status and
// the benchmarks ("DynamoDB calls per command").
type countingStore struct {
	Store
	c *callCounts
	// obs, when set, is told of every call with its latency; backend names the store.
	obs     CallObserver
	backend string
}

// CallObserver is told of every call an Engine makes to DynamoDB or DAX (package
// observe: latency histograms per backend and operation). It must be safe for
// concurrent use.
type CallObserver interface {
	// Call records one call: backend is "dynamodb" or "dax", op the API operation
	// ("GetItem"), failed whether it returned an error.
	Call(backend, op string, d time.Duration, failed bool)
}

// observe reports a call that started at t0.
func (s countingStore) observe(op string, t0 time.Time, err error) {
	if s.obs != nil {
		s.obs.Call(s.backend, op, time.Since(t0), err != nil)
	}
}

// start is the time a call starts, when calls are observed.
func (s countingStore) start() time.Time {
	if s.obs == nil {
		return time.Time{}
	}
	return time.Now()
}

type callCounts struct {
	get, put, update, batchGet, transact, scan, other atomic.Uint64
}

// Calls are the DynamoDB calls an Engine made, per operation.
type Calls struct {
	GetItem            uint64 `json:"get_item"`
	PutItem            uint64 `json:"put_item"`
	UpdateItem         uint64 `json:"update_item"`
	BatchGetItem       uint64 `json:"batch_get_item"`
	TransactWriteItems uint64 `json:"transact_write_items"`
	Scan               uint64 `json:"scan"`
	Other              uint64 `json:"other"`
}

// Total is the number of calls of every kind.
func (c Calls) Total() uint64 {
	return c.GetItem + c.PutItem + c.UpdateItem + c.BatchGetItem + c.TransactWriteItems + c.Scan + c.Other
}

func (c *callCounts) snapshot() Calls {
	return Calls{
		GetItem: c.get.Load(), PutItem: c.put.Load(), UpdateItem: c.update.Load(),
		BatchGetItem: c.batchGet.Load(), TransactWriteItems: c.transact.Load(), Scan: c.scan.Load(), Other: c.other.Load(),
	}
}

func (s countingStore) GetItem(ctx context.Context, in *dynamodb.GetItemInput, o ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	s.c.get.Add(1)
	t0 := s.start()
	out, err := s.Store.GetItem(ctx, in, o...)
	s.observe("GetItem", t0, err)
	return out, err
}

func (s countingStore) PutItem(ctx context.Context, in *dynamodb.PutItemInput, o ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	s.c.put.Add(1)
	t0 := s.start()
	out, err := s.Store.PutItem(ctx, in, o...)
	s.observe("PutItem", t0, err)
	return out, err
}

func (s countingStore) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, o ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	s.c.update.Add(1)
	t0 := s.start()
	out, err := s.Store.UpdateItem(ctx, in, o...)
	s.observe("UpdateItem", t0, err)
	return out, err
}

func (s countingStore) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, o ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	s.c.batchGet.Add(1)
	t0 := s.start()
	out, err := s.Store.BatchGetItem(ctx, in, o...)
	s.observe("BatchGetItem", t0, err)
	return out, err
}

func (s countingStore) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, o ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	s.c.transact.Add(1)
	t0 := s.start()
	out, err := s.Store.TransactWriteItems(ctx, in, o...)
	s.observe("TransactWriteItems", t0, err)
	return out, err
}

func (s countingStore) Scan(ctx context.Context, in *dynamodb.ScanInput, o ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error) {
	s.c.scan.Add(1)
	t0 := s.start()
	out, err := s.Store.Scan(ctx, in, o...)
	s.observe("Scan", t0, err)
	return out, err
}

func (s countingStore) DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, o ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	s.c.other.Add(1)
	t0 := s.start()
	out, err := s.Store.DeleteItem(ctx, in, o...)
	s.observe("DeleteItem", t0, err)
	return out, err
}

func (s countingStore) Query(ctx context.Context, in *dynamodb.QueryInput, o ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	s.c.other.Add(1)
	t0 := s.start()
	out, err := s.Store.Query(ctx, in, o...)
	s.observe("Query", t0, err)
	return out, err
}

func (s countingStore) BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, o ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	s.c.other.Add(1)
	t0 := s.start()
	out, err := s.Store.BatchWriteItem(ctx, in, o...)
	s.observe("BatchWriteItem", t0, err)
	return out, err
}

func (s countingStore) TransactGetItems(ctx context.Context, in *dynamodb.TransactGetItemsInput, o ...func(*dynamodb.Options)) (*dynamodb.TransactGetItemsOutput, error) {
	s.c.other.Add(1)
	t0 := s.start()
	out, err := s.Store.TransactGetItems(ctx, in, o...)
	s.observe("TransactGetItems", t0, err)
	return out, err
}
