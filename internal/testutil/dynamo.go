package testutil

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Local DynamoDB servers that make test starts (scripts/test.sh) and names here.
const (
	Dynalite = "HOTSWAP_TEST_DYNALITE_ENDPOINT" // no transactions, no TTL API
	Moto     = "HOTSWAP_TEST_MOTO_ENDPOINT"     // transactions and TTL
)

// DynamoEndpoint returns the endpoint of a local DynamoDB server (Dynalite or Moto).
// When it is not configured the test is skipped, or fails in the integration run.
func DynamoEndpoint(tb testing.TB, which string) string {
	tb.Helper()
	ep := os.Getenv(which)
	if ep == "" {
		msg := which + " is not set: run the tests with `make test`, or start the servers with `eval \"$(make -s stack-start)\"`"
		if Integration {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}
	return ep
}

// MustDynamoClient returns a DynamoDB client for a local endpoint with dummy
// credentials.
func MustDynamoClient(tb testing.TB, endpoint string) *dynamodb.Client {
	tb.Helper()
	cfg, err := config.LoadDefaultConfig(context.Background(),
		config.WithRegion("us-east-1"),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("hotswap-local", "hotswap-local", "")),
	)
	if err != nil {
		tb.Fatal(err)
	}
	return dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(endpoint) })
}

// MustCreateTable creates a table with hotswap's key schema (pk S, sk S) and a random
// name, waits until it is active, and deletes it when the test ends.
func MustCreateTable(tb testing.TB, db *dynamodb.Client) string {
	tb.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "hotswap-test-" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName: aws.String(name),
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
		tb.Fatalf("create table %s: %v", name, err)
	}
	// Poll: the SDK's waiter sleeps seconds between checks, and local servers make a
	// table active at once.
	for {
		out, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)})
		if err == nil && out.Table.TableStatus == types.TableStatusActive {
			break
		}
		if ctx.Err() != nil {
			tb.Fatalf("wait for table %s: %v (last error %v)", name, ctx.Err(), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	tb.Cleanup(func() {
		_, _ = db.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(name)})
	})
	return name
}
