package dynamo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/aws/aws-dax-go-v2/dax"
	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go/middleware"

	"hotswap/translate"
)

// Both clients implement the data plane hotswap needs, with the SDK's signatures.
var (
	_ translate.Store = (*dynamodb.Client)(nil)
	_ translate.Store = (*dax.Dax)(nil)
	_ API             = (*dynamodb.Client)(nil)
)

// Defaults of Options.
const (
	// DefaultMaxConns is sized for a sidecar doing ~100k requests/s: at a few
	// milliseconds per DynamoDB call that is several hundred calls in flight, and each
	// needs its own HTTP/1.1 connection.
	DefaultMaxConns = 1024
	// DefaultMaxAttempts is the SDK's own default for DynamoDB (one try and three
	// retries), made explicit so that it does not change under us.
	DefaultMaxAttempts = 4
	// DefaultRegion is used when an Endpoint is given and nothing else names a region:
	// local servers (dynalite, moto, DynamoDB Local) accept any region, but the SDK
	// still needs one to sign requests.
	DefaultRegion = "us-east-1"
)

// Options configure Open.
type Options struct {
	// Endpoint is the DynamoDB endpoint URL, e.g. http://127.0.0.1:8000 for a local
	// server. Empty: the AWS SDK's resolution, as in every AWS tool:
	// AWS_ENDPOINT_URL_DYNAMODB, then AWS_ENDPOINT_URL, then endpoint_url in the shared
	// config file, then the regional AWS endpoint. A non-empty Endpoint wins over all
	// of them.
	Endpoint string
	// Region is the AWS region. Empty: AWS_REGION, then the shared config; when that
	// names none either, DefaultRegion if Endpoint is set, else Open fails.
	Region string
	// DAXEndpoint is the DAX cluster endpoint, "dax://host:port" (plain) or
	// "daxs://host:port" (TLS); the port defaults to 8111 and 9111. Empty: no DAX, and
	// Eventual() is DynamoDB.
	DAXEndpoint string
	// Logger receives the package's log lines (DAX down and up); nil discards them.
	Logger *slog.Logger
	// MaxConns caps the HTTP connections to the DynamoDB endpoint, and is also how many
	// idle ones are kept for reuse (Go's default keeps 2 per host, so every burst would
	// open new TLS connections). A call that finds all in use waits for one.
	// Zero: DefaultMaxConns.
	MaxConns int
	// MaxAttempts bounds the tries of one call, the first included, made by the SDK's
	// standard retryer (exponential backoff with jitter from 25 ms, 1 s for throttling;
	// retries also draw from the retryer's token bucket, so a failing endpoint does not
	// get a retry storm). It applies to DAX too (MaxAttempts-1 retries). AWS_MAX_ATTEMPTS
	// and AWS_RETRY_MODE are ignored: hotswap's retries are set here. Zero:
	// DefaultMaxAttempts.
	MaxAttempts int
	// APIOptions are added to the DynamoDB client's middleware stacks (tracing:
	// package observe); nil: none.
	APIOptions []func(*middleware.Stack) error
}

// API is the control plane hotswap uses (CreateTable). It is DynamoDB's, never DAX's:
// DAX does not implement these calls. It deliberately has no DeleteTable.
type API interface {
	CreateTable(ctx context.Context, in *dynamodb.CreateTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error)
	DescribeTable(ctx context.Context, in *dynamodb.DescribeTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
	UpdateTimeToLive(ctx context.Context, in *dynamodb.UpdateTimeToLiveInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateTimeToLiveOutput, error)
	DescribeTimeToLive(ctx context.Context, in *dynamodb.DescribeTimeToLiveInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DescribeTimeToLiveOutput, error)
	UpdateContinuousBackups(ctx context.Context, in *dynamodb.UpdateContinuousBackupsInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateContinuousBackupsOutput, error)
	DescribeContinuousBackups(ctx context.Context, in *dynamodb.DescribeContinuousBackupsInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DescribeContinuousBackupsOutput, error)
}

// Stats are the counters of a Client.
type Stats struct {
	// DAX is true when a DAX endpoint is configured.
	DAX bool `json:"dax"`
	// DAXUp is true while DAX answers; false while its calls go to DynamoDB (and always
	// false without DAX).
	DAXUp bool `json:"dax_up"`
	// DAXFallbacks counts the calls of Eventual() that DynamoDB served instead of DAX:
	// retried after DAX failed to answer, or sent straight to DynamoDB while DAX was
	// down. Each one may leave other nodes' DAX caches stale for up to their TTL.
	DAXFallbacks uint64 `json:"dax_fallbacks"`
}

// Client holds one DynamoDB client and, when configured, one DAX client for the whole
// process (DESIGN.md §6: one DAX client per process, its connections warmed at start).
// It is safe for concurrent use.
type Client struct {
	db  *dynamodb.Client
	dax *daxStore // nil without DAX
}

// Open builds the clients. With a DAX endpoint, it also connects to DAX and sends one
// probe request, which can take a few seconds when DAX accepts connections but does
// not answer; a DAX that cannot be reached does not fail Open: its calls go to DynamoDB
// until it answers (see Stats).
func Open(ctx context.Context, opts Options) (*Client, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	maxConns := opts.MaxConns
	if maxConns <= 0 {
		maxConns = DefaultMaxConns
	}
	attempts := opts.MaxAttempts
	if attempts <= 0 {
		attempts = DefaultMaxAttempts
	}
	httpClient := awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
		tr.MaxConnsPerHost = maxConns
		tr.MaxIdleConnsPerHost = maxConns
		// MaxIdleConns caps idle connections over all hosts; below the per-host value it
		// would silently win.
		tr.MaxIdleConns = maxConns
	})
	load := []func(*config.LoadOptions) error{
		config.WithHTTPClient(httpClient),
		config.WithRetryMode(aws.RetryModeStandard),
		config.WithRetryMaxAttempts(attempts),
	}
	if opts.Region != "" {
		load = append(load, config.WithRegion(opts.Region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, load...)
	if err != nil {
		return nil, fmt.Errorf("dynamo: open: load aws config: %w", err)
	}
	if cfg.Region == "" {
		if opts.Endpoint == "" {
			return nil, errors.New("dynamo: open: no AWS region: set one (--region, AWS_REGION or the shared config)")
		}
		cfg.Region = DefaultRegion
	}
	c := &Client{
		db: dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
			// These options run after the SDK resolved AWS_ENDPOINT_URL_DYNAMODB, so an
			// explicit endpoint wins over the environment.
			if opts.Endpoint != "" {
				o.BaseEndpoint = aws.String(opts.Endpoint)
			}
			o.APIOptions = append(o.APIOptions, opts.APIOptions...)
		}),
	}
	if opts.DAXEndpoint != "" {
		if err := checkDAXEndpoint(opts.DAXEndpoint); err != nil {
			return nil, fmt.Errorf("dynamo: open: dax endpoint %q: %w", opts.DAXEndpoint, err)
		}
		endpoint := opts.DAXEndpoint
		c.dax = newDAXStore(c.db, endpoint, func() (daxClient, error) {
			return newDAX(cfg, endpoint, attempts)
		}, log)
		c.dax.open(ctx)
	}
	return c, nil
}

// DB is DynamoDB: strongly consistent reads and writes.
func (c *Client) DB() translate.Store { return c.db }

// Eventual is DAX when configured (falling back to DynamoDB when DAX cannot be
// reached), else DynamoDB. Reads through it may be stale unless they ask for
// ConsistentRead, which DAX passes through to DynamoDB.
func (c *Client) Eventual() translate.Store {
	if c.dax != nil {
		return c.dax
	}
	return c.db
}

// API is the control plane (always DynamoDB, never DAX).
func (c *Client) API() API { return c.db }

// Stats returns the current counters.
func (c *Client) Stats() Stats {
	if c.dax == nil {
		return Stats{}
	}
	return Stats{DAX: true, DAXUp: c.dax.up(), DAXFallbacks: c.dax.fallbacks.Load()}
}

// Close stops the DAX probe and closes the DAX client. The DynamoDB client holds no
// resources beyond idle HTTP connections, which time out on their own.
func (c *Client) Close() error {
	if c.dax == nil {
		return nil
	}
	if err := c.dax.close(); err != nil {
		return fmt.Errorf("dynamo: close dax: %w", err)
	}
	return nil
}
