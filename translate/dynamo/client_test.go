package dynamo_test

import (
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"hotswap/translate"
	"hotswap/translate/dynamo"
	"hotswap/translate/storetest"
)

// The stores of a Client read and write dynalite; Eventual is DynamoDB without DAX.
func TestOpen_Endpoint(t *testing.T) {
	endpoint := storetest.MustDynalite(t)
	ctx := testContext(t)
	c := MustOpen(t, dynamo.Options{Endpoint: endpoint})
	table := storetest.MustTable(t, storetest.MustClient(t, endpoint))

	if _, err := c.DB().PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: item("a", "b", "1")}); err != nil {
		t.Fatal(err)
	}
	for name, st := range map[string]translate.Store{"DB": c.DB(), "Eventual": c.Eventual()} {
		out, err := st.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: key("a", "b")})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if str(out.Item, "v") != "1" {
			t.Fatalf("%s: item %v", name, out.Item)
		}
	}
	if c.Eventual() != c.DB() {
		t.Error("without DAX, Eventual should be DynamoDB itself")
	}
	if s := c.Stats(); s != (dynamo.Stats{}) {
		t.Errorf("stats without DAX: %+v", s)
	}
	if _, err := c.API().DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)}); err != nil {
		t.Fatal(err)
	}
}

// With no Endpoint, AWS_ENDPOINT_URL_DYNAMODB applies as in every AWS tool, and an
// explicit Endpoint wins over it.
func TestOpen_EndpointFromEnvironment(t *testing.T) {
	endpoint := storetest.MustDynalite(t)
	ctx := testContext(t)
	table := storetest.MustTable(t, storetest.MustClient(t, endpoint))
	describe := func(c *dynamo.Client) error {
		_, err := c.API().DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
		return err
	}
	dead := "http://" + closedAddr(t)

	t.Setenv("AWS_ENDPOINT_URL", dead)
	t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", endpoint)
	if err := describe(MustOpen(t, dynamo.Options{MaxAttempts: 1})); err != nil {
		t.Fatalf("AWS_ENDPOINT_URL_DYNAMODB=%s: %v", endpoint, err)
	}

	t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", dead)
	if err := describe(MustOpen(t, dynamo.Options{Endpoint: endpoint, MaxAttempts: 1})); err != nil {
		t.Fatalf("Endpoint should win over AWS_ENDPOINT_URL_DYNAMODB: %v", err)
	}
	err := describe(MustOpen(t, dynamo.Options{MaxAttempts: 1}))
	var ne net.Error
	if !errors.As(err, &ne) {
		t.Fatalf("AWS_ENDPOINT_URL_DYNAMODB=%s (closed port): want a network error, got %v", dead, err)
	}
}

func TestOpen_BadDAXEndpoint(t *testing.T) {
	for _, ep := range []string{"http://dax.example:8111", "dax://", "dax://host:port", "dax://host:70000"} {
		_, err := dynamo.Open(testContext(t), dynamo.Options{Endpoint: "http://127.0.0.1:1", DAXEndpoint: ep})
		if err == nil || !strings.Contains(err.Error(), "dax endpoint") {
			t.Errorf("DAXEndpoint %q: want an error naming it, got %v", ep, err)
		}
	}
}

// closedAddr returns a loopback address where nothing listens: a listener opened and
// closed.
func closedAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		tb.Fatal(err)
	}
	return addr
}
