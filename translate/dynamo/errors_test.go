package dynamo_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"hotswap/translate/dynamo"
	"hotswap/translate/storetest"
)

// classes lists what each helper says of err, for failure messages and comparison.
func classes(err error) string {
	return fmt.Sprintf("condition=%v conflict=%v throttle=%v unsupported=%v notfound=%v",
		dynamo.IsConditionFailed(err), dynamo.IsTransactionConflict(err), dynamo.IsThrottle(err),
		dynamo.IsUnsupported(err), dynamo.IsNotFound(err))
}

func only(which string) string {
	m := map[string]bool{which: true}
	return fmt.Sprintf("condition=%v conflict=%v throttle=%v unsupported=%v notfound=%v",
		m["condition"], m["conflict"], m["throttle"], m["unsupported"], m["notfound"])
}

func servers(t *testing.T) map[string]string {
	return map[string]string{"dynalite": storetest.MustDynalite(t), "moto": storetest.MustMoto(t)}
}

// What the real servers answer, classified.
func TestErrors_Servers(t *testing.T) {
	for name, endpoint := range servers(t) {
		t.Run(name, func(t *testing.T) {
			ctx := testContext(t)
			c := MustOpen(t, dynamo.Options{Endpoint: endpoint})
			table := storetest.MustTable(t, storetest.MustClient(t, endpoint))
			db := c.DB()
			put := func() error {
				_, err := db.PutItem(ctx, &dynamodb.PutItemInput{
					TableName:           aws.String(table),
					Item:                item("k", "s", "1"),
					ConditionExpression: aws.String("attribute_not_exists(pk)"),
				})
				return err
			}
			if err := put(); err != nil {
				t.Fatal(err)
			}
			err := put()
			if classes(err) != only("condition") {
				t.Errorf("failed condition: %v: %s", err, classes(err))
			}
			var ccf *types.ConditionalCheckFailedException
			if !errors.As(err, &ccf) {
				t.Errorf("failed condition is %T, want *types.ConditionalCheckFailedException", err)
			}

			_, err = db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table + "-missing"), Key: key("k", "s")})
			if classes(err) != only("notfound") {
				t.Errorf("missing table: %v: %s", err, classes(err))
			}

			tx := func(cond string) error {
				_, err := db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
					{Put: &types.Put{TableName: aws.String(table), Item: item("t1", "s", "1")}},
					{ConditionCheck: &types.ConditionCheck{TableName: aws.String(table), Key: key("k", "s"), ConditionExpression: aws.String(cond)}},
				}})
				return err
			}
			err = tx("attribute_not_exists(pk)")
			switch name {
			case "dynalite":
				if classes(err) != only("unsupported") {
					t.Errorf("TransactWriteItems on dynalite: %v: %s", err, classes(err))
				}
			case "moto":
				if classes(err) != only("condition") {
					t.Errorf("cancelled transaction (failed condition): %v: %s", err, classes(err))
				}
				if err := tx("attribute_exists(pk)"); err != nil {
					t.Errorf("transaction: %v", err)
				}
			}
		})
	}
}

// moto answers what it does not implement with an HTML 500.
func TestErrors_MotoUnsupported(t *testing.T) {
	endpoint := storetest.MustMoto(t)
	raw := storetest.MustClient(t, endpoint)
	_, err := raw.DescribeExport(testContext(t), &dynamodb.DescribeExportInput{
		ExportArn: aws.String("arn:aws:dynamodb:us-east-1:123456789012:table/t/export/01234567890123-abcdefgh"),
	})
	if classes(err) != only("unsupported") {
		t.Fatalf("DescribeExport on moto: %v: %s", err, classes(err))
	}
}

// Errors the servers cannot produce, as AWS and DAX send them.
func TestErrors_Constructed(t *testing.T) {
	reasons := func(codes ...string) error {
		tc := &types.TransactionCanceledException{Message: aws.String("Transaction cancelled")}
		for _, c := range codes {
			tc.CancellationReasons = append(tc.CancellationReasons, types.CancellationReason{Code: aws.String(c)})
		}
		return &smithy.OperationError{ServiceID: "DynamoDB", OperationName: "TransactWriteItems", Err: tc}
	}
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"nil", nil, only("")},
		{"other", errors.New("boom"), only("")},
		{"ccf", &types.ConditionalCheckFailedException{}, only("condition")},
		{"ccf wrapped", fmt.Errorf("dynamo: put item: %w", &types.ConditionalCheckFailedException{}), only("condition")},
		{"tx ccf", reasons("None", "ConditionalCheckFailed"), only("condition")},
		{"tx all none", reasons("None", "None"), only("")},
		{"tx conflict", reasons("None", "TransactionConflict"), only("conflict")},
		{"tx ccf and conflict", reasons("ConditionalCheckFailed", "TransactionConflict"), only("conflict")},
		{"tx throttled", reasons("ThrottlingError", "None"), only("throttle")},
		{"tx validation", reasons("ValidationError", "None"), only("")},
		{"conflict", &types.TransactionConflictException{}, only("conflict")},
		{"in progress", &types.TransactionInProgressException{}, only("conflict")},
		{"provisioned", &types.ProvisionedThroughputExceededException{}, only("throttle")},
		{"request limit", &types.RequestLimitExceeded{}, only("throttle")},
		{"throttling", &types.ThrottlingException{}, only("throttle")},
		{"dax throttling", &smithy.GenericAPIError{Code: "ThrottlingException"}, only("throttle")},
		{"dax not implemented", &smithy.GenericAPIError{Code: "NotImplemented"}, only("unsupported")},
		{"not found", &types.ResourceNotFoundException{}, only("notfound")},
		{"moto not found", &smithy.GenericAPIError{Code: "ResourceNotFound"}, only("notfound")},
	} {
		if got := classes(tc.err); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}
