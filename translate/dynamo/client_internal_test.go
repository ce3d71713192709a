package dynamo

import (
	"context"
	"testing"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
)

// The HTTP transport keeps MaxConns idle connections per host (Go's default is 2, so
// every burst would open new connections), and the retryer is bounded.
func TestOpen_TransportAndRetries(t *testing.T) {
	t.Setenv("AWS_MAX_ATTEMPTS", "9") // ignored: Options decide
	for _, tc := range []struct {
		opts            Options
		conns, attempts int
	}{
		{Options{Endpoint: "http://127.0.0.1:1"}, DefaultMaxConns, DefaultMaxAttempts},
		{Options{Endpoint: "http://127.0.0.1:1", MaxConns: 64, MaxAttempts: 2}, 64, 2},
	} {
		c, err := Open(context.Background(), tc.opts)
		if err != nil {
			t.Fatal(err)
		}
		o := c.db.Options()
		bc, ok := o.HTTPClient.(*awshttp.BuildableClient)
		if !ok {
			t.Fatalf("HTTPClient is %T, want *awshttp.BuildableClient", o.HTTPClient)
		}
		tr := bc.GetTransport()
		if tr.MaxIdleConnsPerHost != tc.conns || tr.MaxConnsPerHost != tc.conns || tr.MaxIdleConns != tc.conns {
			t.Errorf("%+v: transport idle/host %d, conns/host %d, idle %d; want %d", tc.opts, tr.MaxIdleConnsPerHost, tr.MaxConnsPerHost, tr.MaxIdleConns, tc.conns)
		}
		if got := o.Retryer.MaxAttempts(); got != tc.attempts {
			t.Errorf("%+v: retryer max attempts %d, want %d", tc.opts, got, tc.attempts)
		}
		if o.Region == "" {
			t.Errorf("%+v: no region", tc.opts)
		}
		_ = c.Close()
	}
}

// Without an endpoint, a region is required.
func TestOpen_NoRegion(t *testing.T) {
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
	t.Setenv("AWS_CONFIG_FILE", "/dev/null")
	t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", "")
	if _, err := Open(context.Background(), Options{}); err == nil {
		t.Fatal("want an error without a region")
	}
	c, err := Open(context.Background(), Options{Region: "eu-west-1"})
	if err != nil {
		t.Fatal(err)
	}
	if r := c.db.Options().Region; r != "eu-west-1" {
		t.Errorf("region %q", r)
	}
}
