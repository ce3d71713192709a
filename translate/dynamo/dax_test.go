package dynamo_test

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"hotswap/translate/dynamo"
	"hotswap/translate/storetest"
)

// DAX on a closed loopback port: Open succeeds, every call of Eventual() is served by
// DynamoDB (dynalite) and counted, DynamoDB's own errors come back unchanged, and the
// outage is logged at WARN once.
func TestClient_DAXFallback(t *testing.T) {
	endpoint := storetest.MustDynalite(t)
	ctx := testContext(t)
	table := storetest.MustTable(t, storetest.MustClient(t, endpoint))
	var logs logBuffer
	c := MustOpen(t, dynamo.Options{Endpoint: endpoint, DAXEndpoint: "dax://" + closedAddr(t), Logger: newLogger(&logs)})

	if s := c.Stats(); !s.DAX || s.DAXUp {
		t.Fatalf("stats at start: %+v", s)
	}
	ev := c.Eventual()
	if _, err := ev.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: item("k", "s", "1")}); err != nil {
		t.Fatalf("put through Eventual: %v", err)
	}
	out, err := ev.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: key("k", "s")})
	if err != nil || str(out.Item, "v") != "1" {
		t.Fatalf("get through Eventual: %v %v", out, err)
	}
	_, err = ev.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:           aws.String(table),
		Item:                item("k", "s", "2"),
		ConditionExpression: aws.String("attribute_not_exists(pk)"),
	})
	if !dynamo.IsConditionFailed(err) {
		t.Fatalf("failed condition through Eventual: got %v", err)
	}
	if s := c.Stats(); s.DAXFallbacks != 3 || s.DAXUp {
		t.Fatalf("stats after 3 calls: %+v", s)
	}
	if n := strings.Count(logs.String(), "level=WARN"); n != 1 || !strings.Contains(logs.String(), "dax unreachable") {
		t.Fatalf("want one WARN about DAX, got:\n%s", logs.String())
	}
	// DB() never goes near DAX.
	if _, err := c.DB().GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: key("k", "s")}); err != nil {
		t.Fatal(err)
	}
	if s := c.Stats(); s.DAXFallbacks != 3 {
		t.Fatalf("DB() calls counted as fallbacks: %+v", s)
	}
}
