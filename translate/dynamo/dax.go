package dynamo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-dax-go-v2/dax"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"hotswap/translate"
)

// DAX fallback.
//
// The Eventual store sends every call to DAX while DAX answers. When a call fails at
// the connection level (DAX refused, unreachable or silent: see isConnError) and the
// caller's context is still alive:
//
//   - DAX is marked down, logged at WARN once, and probed in the background every
//     DefaultDAXProbeInterval until it answers again (logged at WARN too, so that an
//     operator filtering at WARN sees both ends of the outage);
//   - a read is retried on DynamoDB;
//   - a write is retried on DynamoDB only when the error shows it never reached DAX
//     (no route to any node, a failed dial). A write that failed in flight (timeout,
//     reset) may have been applied: sending it again could apply it twice (INCR) or fail
//     its own version condition, so its error is returned, wrapped.
//
// While DAX is down, calls go straight to DynamoDB. Each call DynamoDB serves instead
// of DAX is counted in Stats().DAXFallbacks: DynamoDB writes do not reach the DAX item
// cache, so DAX nodes may serve the old item for up to their record TTL (DESIGN.md §6).
// Business errors from DAX (ConditionalCheckFailedException, validation, throttling)
// are returned as they are: DAX answered.

// DefaultDAXProbeInterval is how often a DAX that is down is probed.
const DefaultDAXProbeInterval = 5 * time.Second

const (
	// daxProbeTimeout bounds one probe; a DAX that takes longer is not up.
	daxProbeTimeout = 3 * time.Second
	// daxProbeTable is probed until a call names the real table. DAX answers a table
	// that does not exist with ResourceNotFoundException, which proves it is up.
	daxProbeTable = "hotswap-dax-probe"
)

// daxClient is what the fallback store needs of *dax.Dax.
type daxClient interface {
	translate.Store
	Close() error
}

// newDAX creates the DAX client for endpoint with the settings of cfg.
func newDAX(cfg aws.Config, endpoint string, attempts int) (c daxClient, err error) {
	// dax.NewConfig loads the default AWS config again for its credentials and panics
	// if that fails (aws-dax-go-v2 v1.0.3, dax/internal/client/cluster.go
	// DefaultConfig): a DAX client that cannot be built must not take the proxy down.
	defer func() {
		if r := recover(); r != nil {
			c, err = nil, fmt.Errorf("dax client: %v", r)
		}
	}()
	dc := dax.NewConfig(cfg, endpoint)
	dc.ReadRetries, dc.WriteRetries = attempts-1, attempts-1
	d, err := dax.New(dc)
	if err != nil {
		return nil, err
	}
	return d, nil
}

// checkDAXEndpoint rejects what the DAX client would reject, so that a typo is an
// error at start rather than a DAX that is down forever.
func checkDAXEndpoint(endpoint string) error {
	u, err := url.Parse(endpoint)
	if err != nil {
		return err
	}
	if u.Scheme != "dax" && u.Scheme != "daxs" {
		return errors.New(`want dax://host[:port] or daxs://host[:port]`)
	}
	if u.Hostname() == "" {
		return errors.New("no host")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n <= 0 || n > 65535 {
			return fmt.Errorf("bad port %q", p)
		}
	}
	return nil
}

// daxStore is the Eventual store when DAX is configured: DAX with fallback to db.
type daxStore struct {
	db       translate.Store
	endpoint string
	connect  func() (daxClient, error)
	log      *slog.Logger
	// interval between probes while down; tests shorten it.
	interval time.Duration

	// live is the DAX client while DAX is up, nil while it is down.
	live      atomic.Pointer[daxRef]
	fallbacks atomic.Uint64
	// table is the last table a call named, which probes use (nil: daxProbeTable).
	table atomic.Pointer[string]

	mu      sync.Mutex
	client  daxClient // nil until created
	probing bool      // a probe loop is running
	closed  bool

	ctx    context.Context // cancelled by close: stops the probe loop
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type daxRef struct{ c daxClient }

func newDAXStore(db translate.Store, endpoint string, connect func() (daxClient, error), log *slog.Logger) *daxStore {
	ctx, cancel := context.WithCancel(context.Background())
	return &daxStore{
		db:       db,
		endpoint: endpoint,
		connect:  connect,
		log:      log,
		interval: DefaultDAXProbeInterval,
		ctx:      ctx,
		cancel:   cancel,
	}
}

// open creates the DAX client and probes it once, which also opens its first
// connections; when either fails, DAX starts down.
func (s *daxStore) open(ctx context.Context) {
	c, err := s.probe(ctx)
	if err != nil {
		s.log.Warn("dax unreachable at start: its calls go to DynamoDB until it answers; DAX caches elsewhere may be stale meanwhile",
			logKeyEndpoint, s.endpoint, logKeyErr, err)
		s.startProbe()
		return
	}
	s.live.Store(&daxRef{c})
	s.log.Info("dax up", logKeyEndpoint, s.endpoint)
}

func (s *daxStore) up() bool { return s.live.Load() != nil }

// probe creates the client if needed and sends one GetItem. Any answer from DAX, an
// error included, means it is up.
func (s *daxStore) probe(ctx context.Context) (daxClient, error) {
	s.mu.Lock()
	c, closed := s.client, s.closed
	s.mu.Unlock()
	if closed {
		return nil, errors.New("closed")
	}
	if c == nil {
		nc, err := s.connect()
		if err != nil {
			return nil, fmt.Errorf("create dax client: %w", err)
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			_ = nc.Close()
			return nil, errors.New("closed")
		}
		s.client, c = nc, nc
		s.mu.Unlock()
	}
	table := daxProbeTable
	if t := s.table.Load(); t != nil {
		table = *t
	}
	pctx, cancel := context.WithTimeout(ctx, daxProbeTimeout)
	defer cancel()
	_, err := c.GetItem(pctx, &dynamodb.GetItemInput{
		TableName: aws.String(table),
		Key: map[string]types.AttributeValue{
			translate.AttrPK: &types.AttributeValueMemberS{Value: "hotswap-dax-probe"},
			translate.AttrSK: &types.AttributeValueMemberS{Value: "hotswap-dax-probe"},
		},
	})
	if err != nil && (isConnError(err) || pctx.Err() != nil) {
		return nil, err
	}
	return c, nil
}

// markDown records that DAX failed to answer; only the call that takes it down logs.
func (s *daxStore) markDown(err error) {
	if s.live.Swap(nil) == nil {
		return
	}
	s.log.Warn("dax down: its calls go to DynamoDB until it answers; DAX caches elsewhere may be stale meanwhile",
		logKeyEndpoint, s.endpoint, logKeyErr, err)
	s.startProbe()
}

func (s *daxStore) startProbe() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.probing || s.closed {
		return
	}
	s.probing = true
	s.wg.Add(1)
	go s.probeLoop()
}

// probeLoop probes DAX every interval until it answers or the store closes.
func (s *daxStore) probeLoop() {
	defer s.wg.Done()
	t := time.NewTimer(s.interval)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		c, err := s.probe(s.ctx)
		if err == nil {
			s.mu.Lock()
			if s.closed {
				s.mu.Unlock()
				return
			}
			// probing is cleared under the same lock as DAX comes back, so that a call
			// that takes DAX down right after starts a new loop (startProbe).
			s.probing = false
			s.live.Store(&daxRef{c})
			s.mu.Unlock()
			s.log.Warn("dax up again: calls go through DAX", logKeyEndpoint, s.endpoint,
				"fallbacks", s.fallbacks.Load())
			return
		}
		s.log.Debug("dax probe failed", logKeyEndpoint, s.endpoint, logKeyErr, err)
		t.Reset(s.interval)
	}
}

func (s *daxStore) close() error {
	s.mu.Lock()
	s.closed = true
	c := s.client
	s.client = nil
	s.mu.Unlock()
	s.live.Store(nil)
	s.cancel()
	s.wg.Wait()
	if c != nil {
		return c.Close()
	}
	return nil
}

// call runs f on DAX, or on DynamoDB when DAX is down or fails to answer (see the top
// of this file).
func call[T any](s *daxStore, ctx context.Context, op string, write bool, table *string, f func(translate.Store) (T, error)) (T, error) {
	if table != nil {
		if t := s.table.Load(); t == nil || *t != *table {
			name := *table
			s.table.Store(&name)
		}
	}
	ref := s.live.Load()
	if ref == nil {
		s.fallbacks.Add(1)
		return f(s.db)
	}
	out, err := f(ref.c)
	if err == nil {
		return out, nil
	}
	var zero T
	if ctx.Err() != nil || !isConnError(err) {
		return zero, err
	}
	s.markDown(err)
	if write && !neverSent(err) {
		return zero, fmt.Errorf("dynamo: dax %s failed in flight, not retried on DynamoDB as it may have been applied: %w", op, err)
	}
	s.fallbacks.Add(1)
	return f(s.db)
}

// isConnError reports whether err says DAX (or DynamoDB) could not be reached or did
// not answer, as opposed to an answer that is an error.
func isConnError(err error) bool {
	if err == nil {
		return false
	}
	// aws-dax-go-v2 flattens its network errors into strings: a call when no node
	// can be reached fails with "no routes found. lastRefreshError: ..." (an
	// OperationError wrapping an errors.New), and a node that fails mid-call gives an
	// API error InternalServerError or ResponseTimeout whose message starts with
	// "network error:" (dax/internal/client/error.go translateError).
	if strings.Contains(err.Error(), "no routes found") {
		return true
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "InternalServerError", "ResponseTimeout":
			if strings.HasPrefix(ae.ErrorMessage(), "network error") {
				return true
			}
		}
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH)
}

// neverSent reports whether a connection-level error proves the request did not leave
// this process: no DAX node to send it to, or the connection was never established.
func neverSent(err error) bool {
	msg := err.Error()
	if strings.Contains(msg, "no routes found") {
		return true
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "dial" {
		return true
	}
	// The DAX client keeps only the text of a dial error ("network error: dial tcp
	// 10.0.0.1:8111: connect: connection refused").
	return strings.Contains(msg, "network error: dial ") || errors.Is(err, syscall.ECONNREFUSED)
}

func (s *daxStore) GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	return call(s, ctx, "get item", false, in.TableName, func(st translate.Store) (*dynamodb.GetItemOutput, error) {
		return st.GetItem(ctx, in, optFns...)
	})
}

func (s *daxStore) PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	return call(s, ctx, "put item", true, in.TableName, func(st translate.Store) (*dynamodb.PutItemOutput, error) {
		return st.PutItem(ctx, in, optFns...)
	})
}

func (s *daxStore) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	return call(s, ctx, "update item", true, in.TableName, func(st translate.Store) (*dynamodb.UpdateItemOutput, error) {
		return st.UpdateItem(ctx, in, optFns...)
	})
}

func (s *daxStore) DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	return call(s, ctx, "delete item", true, in.TableName, func(st translate.Store) (*dynamodb.DeleteItemOutput, error) {
		return st.DeleteItem(ctx, in, optFns...)
	})
}

func (s *daxStore) Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	return call(s, ctx, "query", false, in.TableName, func(st translate.Store) (*dynamodb.QueryOutput, error) {
		return st.Query(ctx, in, optFns...)
	})
}

func (s *daxStore) Scan(ctx context.Context, in *dynamodb.ScanInput, optFns ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error) {
	return call(s, ctx, "scan", false, in.TableName, func(st translate.Store) (*dynamodb.ScanOutput, error) {
		return st.Scan(ctx, in, optFns...)
	})
}

func (s *daxStore) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	return call(s, ctx, "batch get item", false, nil, func(st translate.Store) (*dynamodb.BatchGetItemOutput, error) {
		return st.BatchGetItem(ctx, in, optFns...)
	})
}

func (s *daxStore) BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	return call(s, ctx, "batch write item", true, nil, func(st translate.Store) (*dynamodb.BatchWriteItemOutput, error) {
		return st.BatchWriteItem(ctx, in, optFns...)
	})
}

func (s *daxStore) TransactGetItems(ctx context.Context, in *dynamodb.TransactGetItemsInput, optFns ...func(*dynamodb.Options)) (*dynamodb.TransactGetItemsOutput, error) {
	return call(s, ctx, "transact get items", false, nil, func(st translate.Store) (*dynamodb.TransactGetItemsOutput, error) {
		return st.TransactGetItems(ctx, in, optFns...)
	})
}

func (s *daxStore) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, optFns ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	return call(s, ctx, "transact write items", true, nil, func(st translate.Store) (*dynamodb.TransactWriteItemsOutput, error) {
		return st.TransactWriteItems(ctx, in, optFns...)
	})
}
