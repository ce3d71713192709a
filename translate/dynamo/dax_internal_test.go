package dynamo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
)

// fakeStore answers every call with err (nil: success) and counts the calls. Its
// GetItem returns an item whose "from" attribute is the store's name.
type fakeStore struct {
	name  string
	mu    sync.Mutex
	err   error
	calls atomic.Int64
}

func (f *fakeStore) setErr(err error) {
	f.mu.Lock()
	f.err = err
	f.mu.Unlock()
}

func (f *fakeStore) answer() error {
	f.calls.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

func (f *fakeStore) Close() error { return nil }

func (f *fakeStore) GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	if err := f.answer(); err != nil {
		return nil, err
	}
	return &dynamodb.GetItemOutput{Item: map[string]types.AttributeValue{"from": &types.AttributeValueMemberS{Value: f.name}}}, nil
}

func (f *fakeStore) PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	return &dynamodb.PutItemOutput{}, f.answer()
}

func (f *fakeStore) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	return &dynamodb.UpdateItemOutput{}, f.answer()
}

func (f *fakeStore) DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	return &dynamodb.DeleteItemOutput{}, f.answer()
}

func (f *fakeStore) Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	return &dynamodb.QueryOutput{}, f.answer()
}

func (f *fakeStore) Scan(ctx context.Context, in *dynamodb.ScanInput, optFns ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error) {
	return &dynamodb.ScanOutput{}, f.answer()
}

func (f *fakeStore) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	return &dynamodb.BatchGetItemOutput{}, f.answer()
}

func (f *fakeStore) BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	return &dynamodb.BatchWriteItemOutput{}, f.answer()
}

func (f *fakeStore) TransactGetItems(ctx context.Context, in *dynamodb.TransactGetItemsInput, optFns ...func(*dynamodb.Options)) (*dynamodb.TransactGetItemsOutput, error) {
	return &dynamodb.TransactGetItemsOutput{}, f.answer()
}

func (f *fakeStore) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, optFns ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	return &dynamodb.TransactWriteItemsOutput{}, f.answer()
}

type syncBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var (
	errRefused = &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	errReset   = &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}
)

func newTestDAXStore(t *testing.T, connect func() (daxClient, error)) (*daxStore, *fakeStore, *syncBuf) {
	t.Helper()
	db := &fakeStore{name: "dynamodb"}
	logs := &syncBuf{}
	s := newDAXStore(db, "dax://fake:8111", connect, slog.New(slog.NewTextHandler(logs, nil)))
	s.interval = 10 * time.Millisecond
	t.Cleanup(func() { _ = s.close() })
	return s, db, logs
}

func from(t *testing.T, s *daxStore) string {
	t.Helper()
	out, err := s.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String("t")})
	if err != nil {
		t.Fatalf("get item: %v", err)
	}
	return out.Item["from"].(*types.AttributeValueMemberS).Value
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// The whole cycle: down at start, up after a probe, down on a failed call (logged
// once), up again; business errors pass through.
func TestDAXStore_Transitions(t *testing.T) {
	dax := &fakeStore{name: "dax"}
	dax.setErr(errRefused)
	s, db, logs := newTestDAXStore(t, func() (daxClient, error) { return dax, nil })

	s.open(context.Background())
	if s.up() {
		t.Fatal("up with DAX refusing connections")
	}
	if got := from(t, s); got != "dynamodb" {
		t.Fatalf("while down: served by %s", got)
	}
	if n := s.fallbacks.Load(); n != 1 {
		t.Fatalf("fallbacks %d, want 1", n)
	}
	if !strings.Contains(logs.String(), "level=WARN msg=\"dax unreachable at start") {
		t.Fatalf("no WARN at start:\n%s", logs)
	}

	// The probe loop logs right after it brings DAX back: wait for the line, not
	// only for the state.
	dax.setErr(nil)
	waitFor(t, "dax up", s.up)
	waitFor(t, "WARN for down → up", func() bool {
		return strings.Contains(logs.String(), `level=WARN msg="dax up again`)
	})
	dbCalls := db.calls.Load()
	if got := from(t, s); got != "dax" {
		t.Fatalf("while up: served by %s", got)
	}

	// DAX answers with an error: returned as is, DAX stays up.
	ccf := &types.ConditionalCheckFailedException{Message: aws.String("The conditional request failed")}
	dax.setErr(ccf)
	_, err := s.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String("t")})
	if !errors.Is(err, ccf) || !IsConditionFailed(err) {
		t.Fatalf("business error: got %v", err)
	}
	if !s.up() || db.calls.Load() != dbCalls {
		t.Fatal("a business error must not fall back")
	}

	// DAX fails mid-call, from many goroutines at once: every read is retried on
	// DynamoDB, and the transition is logged once.
	dax.setErr(errReset)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			out, err := s.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String("t")})
			if err != nil || out.Item["from"].(*types.AttributeValueMemberS).Value != "dynamodb" {
				t.Errorf("read after DAX failed: %v %v", out, err)
			}
		})
	}
	wg.Wait()
	if n := strings.Count(logs.String(), `msg="dax down`); n != 1 {
		t.Fatalf("dax down logged %d times, want once:\n%s", n, logs)
	}

	dax.setErr(nil)
	waitFor(t, "dax up again", s.up)
	waitFor(t, "the second dax up again", func() bool {
		return strings.Count(logs.String(), `msg="dax up again`) >= 2
	})
	if n := strings.Count(logs.String(), `msg="dax up again`); n != 2 {
		t.Fatalf("dax up logged %d times, want 2:\n%s", n, logs)
	}
}

// A write that failed in flight may have been applied: it is not sent again. One that
// never left (refused) is.
func TestDAXStore_Writes(t *testing.T) {
	dax := &fakeStore{name: "dax"}
	s, db, _ := newTestDAXStore(t, func() (daxClient, error) { return dax, nil })
	s.open(context.Background())
	if !s.up() {
		t.Fatal("not up")
	}

	dax.setErr(errReset)
	_, err := s.UpdateItem(context.Background(), &dynamodb.UpdateItemInput{TableName: aws.String("t")})
	if err == nil || !errors.Is(err, syscall.ECONNRESET) || !strings.Contains(err.Error(), "not retried") {
		t.Fatalf("in-flight write: got %v", err)
	}
	if db.calls.Load() != 0 {
		t.Fatal("an in-flight write was sent to DynamoDB")
	}
	if s.up() {
		t.Fatal("DAX should be down after a connection error")
	}

	// Back up, then refused: the write goes to DynamoDB.
	dax.setErr(nil)
	waitFor(t, "dax up", s.up)
	dax.setErr(errRefused)
	if _, err := s.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String("t")}); err != nil {
		t.Fatalf("refused write: %v", err)
	}
	if db.calls.Load() != 1 {
		t.Fatalf("dynamodb calls %d, want 1", db.calls.Load())
	}
}

// A caller whose context is done gets DAX's error: no fallback, DAX stays up.
func TestDAXStore_CallerDeadline(t *testing.T) {
	dax := &fakeStore{name: "dax"}
	s, db, _ := newTestDAXStore(t, func() (daxClient, error) { return dax, nil })
	s.open(context.Background())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	dax.setErr(context.Canceled)
	if _, err := s.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("t")}); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
	if db.calls.Load() != 0 || !s.up() {
		t.Fatal("a cancelled caller must not fall back or take DAX down")
	}
}

// A DAX client that cannot be created: calls go to DynamoDB, and creation is retried
// in the background.
func TestDAXStore_CreateFails(t *testing.T) {
	dax := &fakeStore{name: "dax"}
	var fail atomic.Bool
	fail.Store(true)
	s, _, logs := newTestDAXStore(t, func() (daxClient, error) {
		if fail.Load() {
			return nil, errors.New("no credentials")
		}
		return dax, nil
	})
	s.open(context.Background())
	if got := from(t, s); got != "dynamodb" {
		t.Fatalf("served by %s", got)
	}
	if !strings.Contains(logs.String(), "no credentials") {
		t.Fatalf("creation error not logged:\n%s", logs)
	}
	fail.Store(false)
	waitFor(t, "dax up", s.up)
	if got := from(t, s); got != "dax" {
		t.Fatalf("served by %s", got)
	}
}

// The real DAX client on a closed port: its errors are connection-level, reads and
// writes go to DynamoDB.
func TestDAXStore_RealClientClosedPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg, err := config.LoadDefaultConfig(context.Background(), config.WithRegion("us-east-1"),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("k", "s", "")))
	if err != nil {
		t.Fatal(err)
	}
	c, err := newDAX(cfg, "dax://"+addr, 2)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String("t"), Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "x"}}})
	if !isConnError(err) || !neverSent(err) {
		t.Fatalf("closed port: %v: isConnError %v neverSent %v", err, isConnError(err), neverSent(err))
	}

	s, db, logs := newTestDAXStore(t, func() (daxClient, error) { return c, nil })
	s.interval = time.Hour
	s.client = c
	s.live.Store(&daxRef{c}) // as if DAX had answered at start
	if got := from(t, s); got != "dynamodb" {
		t.Fatalf("served by %s", got)
	}
	if _, err := s.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String("t")}); err != nil {
		t.Fatalf("put: %v", err)
	}
	if db.calls.Load() != 2 || s.fallbacks.Load() != 2 {
		t.Fatalf("dynamodb calls %d, fallbacks %d; want 2, 2", db.calls.Load(), s.fallbacks.Load())
	}
	if !strings.Contains(logs.String(), "no routes found") {
		t.Fatalf("log:\n%s", logs)
	}
}

func TestIsConnError(t *testing.T) {
	daxNetwork := func(code, msg string) error {
		return &smithy.GenericAPIError{Code: code, Message: msg}
	}
	for _, tc := range []struct {
		err             error
		conn, neverSent bool
	}{
		{errRefused, true, true},
		{errReset, true, false},
		{fmt.Errorf("op: %w", errRefused), true, true},
		{&smithy.OperationError{ServiceID: "dax", OperationName: "GetItem", Err: errors.New("no routes found. lastRefreshError: api error InternalServerError: network error: dial tcp 127.0.0.1:1: connect: connection refused")}, true, true},
		{daxNetwork("InternalServerError", "network error: dial tcp 10.0.0.1:8111: connect: no route to host"), true, true},
		{daxNetwork("ResponseTimeout", "network error: read tcp 10.0.0.1:8111: i/o timeout"), true, false},
		{context.DeadlineExceeded, true, false},
		{daxNetwork("InternalServerError", "something broke"), false, false},
		{&types.ConditionalCheckFailedException{}, false, false},
		{&types.ProvisionedThroughputExceededException{}, false, false},
		{daxNetwork("ThrottlingException", "slow down"), false, false},
	} {
		if got := isConnError(tc.err); got != tc.conn {
			t.Errorf("isConnError(%v) = %v", tc.err, got)
		}
		if tc.conn {
			if got := neverSent(tc.err); got != tc.neverSent {
				t.Errorf("neverSent(%v) = %v", tc.err, got)
			}
		}
	}
}
