package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Environment variables naming the local servers (scripts/test.sh and
// `make stack-start` set them).
const (
	DynaliteEnv = "HOTSWAP_TEST_DYNALITE_ENDPOINT" // dynalite: no transactions, TTL or PITR
	MotoEnv     = "HOTSWAP_TEST_MOTO_ENDPOINT"     // moto: transactions, TTL, PITR
)

// MustEndpoint returns the endpoint URL in the environment variable env. When it is
// unset the test is skipped, or fails under the integration build tag (CI), where a
// missing server must not pass silently.
func MustEndpoint(tb testing.TB, env string) string {
	tb.Helper()
	v := os.Getenv(env)
	if v == "" {
		msg := env + " is not set: run `make test`, or `eval \"$(make -s stack-start)\"` to start dynalite and moto"
		if requireServers {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}
	return v
}

// MustDynalite returns the dynalite endpoint (see MustEndpoint).
func MustDynalite(tb testing.TB) string {
	tb.Helper()
	return MustEndpoint(tb, DynaliteEnv)
}

// MustMoto returns the moto endpoint (see MustEndpoint).
func MustMoto(tb testing.TB) string {
	tb.Helper()
	return MustEndpoint(tb, MotoEnv)
}

// MustClient returns an SDK client for a local endpoint. The region is AWS_REGION's
// (moto keeps tables per region, so it must match what the code under test uses), or
// us-east-1; credentials are the environment's, or dummy ones (local servers accept
// any).
func MustClient(tb testing.TB, endpoint string) *dynamodb.Client {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		tb.Fatalf("load aws config: %v", err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
		cfg.Credentials = credentials.NewStaticCredentialsProvider("hotswap-local", "hotswap-local", "")
	}
	return dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(endpoint) })
}

// TableName returns a table name of the test's own: "hotswap-test-" and random hex.
func TableName(tb testing.TB) string {
	tb.Helper()
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		tb.Fatal(err)
	}
	return "hotswap-test-" + hex.EncodeToString(b)
}

// DeleteTableAtCleanup deletes table when the test ends; a table that is already gone
// is fine.
func DeleteTableAtCleanup(tb testing.TB, c *dynamodb.Client, table string) {
	tb.Helper()
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err := c.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(table)})
		var nf *types.ResourceNotFoundException
		if err != nil && !errors.As(err, &nf) {
			tb.Errorf("delete table %s: %v", table, err)
		}
	})
}

// MustTable creates a table of the test's own with hotswap's key schema (pk S HASH,
// sk S RANGE, on demand), waits until it is ACTIVE and deletes it when the test ends.
func MustTable(tb testing.TB, c *dynamodb.Client) string {
	tb.Helper()
	table := TableName(tb)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, err := c.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName: aws.String(table),
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String("sk"), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String("sk"), KeyType: types.KeyTypeRange},
		},
		BillingMode: types.BillingModePayPerRequest,
	})
	if err != nil {
		tb.Fatalf("create table %s: %v", table, err)
	}
	DeleteTableAtCleanup(tb, c, table)
	w := dynamodb.NewTableExistsWaiter(c, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay, o.MaxDelay = 100*time.Millisecond, time.Second
	})
	if err := w.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)}, 50*time.Second); err != nil {
		tb.Fatalf("wait for table %s: %v", table, err)
	}
	return table
}
