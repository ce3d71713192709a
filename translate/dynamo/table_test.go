package dynamo_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"hotswap/translate"
	"hotswap/translate/dynamo"
	"hotswap/translate/storetest"
)

// CreateTable twice on each server: the second run finds everything in place. moto
// gets TTL and PITR; dynalite has neither, which is logged and skipped.
func TestCreateTable(t *testing.T) {
	for name, endpoint := range servers(t) {
		t.Run(name, func(t *testing.T) {
			ctx := testContext(t)
			raw := storetest.MustClient(t, endpoint)
			c := MustOpen(t, dynamo.Options{Endpoint: endpoint})
			table := storetest.TableName(t)
			storetest.DeleteTableAtCleanup(t, raw, table)

			for run := 1; run <= 2; run++ {
				var logs logBuffer
				if err := dynamo.CreateTable(ctx, c.API(), table, newLogger(&logs)); err != nil {
					t.Fatalf("run %d: %v\n%s", run, err, logs.String())
				}
				l := logs.String()
				if strings.Contains(l, "level=WARN") || strings.Contains(l, "level=ERROR") {
					t.Errorf("run %d logged trouble:\n%s", run, l)
				}
				first := map[bool]string{true: "table created", false: "table exists"}[run == 1]
				if !strings.Contains(l, first) || !strings.Contains(l, "table ready") {
					t.Errorf("run %d: want %q and \"table ready\" in the log:\n%s", run, first, l)
				}
				switch name {
				case "dynalite":
					for _, want := range []string{"level=INFO msg=\"ttl not enabled: the server does not implement it", "level=INFO msg=\"point-in-time recovery not enabled: the server does not implement it"} {
						if !strings.Contains(l, want) {
							t.Errorf("run %d: want %q in the log:\n%s", run, want, l)
						}
					}
				case "moto":
					want := map[bool][]string{
						true:  {`msg="ttl enabled"`, `msg="point-in-time recovery enabled"`},
						false: {`msg="ttl already enabled"`, `msg="point-in-time recovery already enabled"`},
					}[run == 1]
					for _, w := range want {
						if !strings.Contains(l, w) {
							t.Errorf("run %d: want %q in the log:\n%s", run, w, l)
						}
					}
				}
			}

			d, err := raw.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
			if err != nil {
				t.Fatal(err)
			}
			if d.Table.TableStatus != types.TableStatusActive {
				t.Errorf("status %s", d.Table.TableStatus)
			}
			if bm := d.Table.BillingModeSummary; bm == nil || bm.BillingMode != types.BillingModePayPerRequest {
				t.Errorf("billing mode %+v, want PAY_PER_REQUEST", bm)
			}
			if name != "moto" {
				return
			}
			ttl, err := raw.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(table)})
			if err != nil {
				t.Fatal(err)
			}
			if td := ttl.TimeToLiveDescription; td == nil || td.TimeToLiveStatus != types.TimeToLiveStatusEnabled || aws.ToString(td.AttributeName) != translate.AttrTTL {
				t.Errorf("ttl %+v, want ENABLED on %s", td, translate.AttrTTL)
			}
			cb, err := raw.DescribeContinuousBackups(ctx, &dynamodb.DescribeContinuousBackupsInput{TableName: aws.String(table)})
			if err != nil {
				t.Fatal(err)
			}
			if p := cb.ContinuousBackupsDescription.PointInTimeRecoveryDescription; p == nil || p.PointInTimeRecoveryStatus != types.PointInTimeRecoveryStatusEnabled {
				t.Errorf("pitr %+v, want ENABLED", p)
			}
		})
	}
}

// A table with another key schema is an error that says what it has.
func TestCreateTable_WrongKeySchema(t *testing.T) {
	for name, endpoint := range servers(t) {
		t.Run(name, func(t *testing.T) {
			ctx := testContext(t)
			raw := storetest.MustClient(t, endpoint)
			table := storetest.TableName(t)
			storetest.DeleteTableAtCleanup(t, raw, table)
			_, err := raw.CreateTable(ctx, &dynamodb.CreateTableInput{
				TableName:            aws.String(table),
				AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("id"), AttributeType: types.ScalarAttributeTypeN}},
				KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: types.KeyTypeHash}},
				BillingMode:          types.BillingModePayPerRequest,
			})
			if err != nil {
				t.Fatal(err)
			}
			c := MustOpen(t, dynamo.Options{Endpoint: endpoint})
			err = dynamo.CreateTable(ctx, c.API(), table, nil)
			if !errors.Is(err, dynamo.ErrKeySchema) {
				t.Fatalf("got %v, want ErrKeySchema", err)
			}
			for _, want := range []string{table, "id (N, HASH)", "pk (S, HASH) + sk (S, RANGE)"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not name %q", err, want)
				}
			}
		})
	}
}

// TTL already enabled on another attribute is an error, not silently kept.
func TestCreateTable_TTLOnOtherAttribute(t *testing.T) {
	endpoint := storetest.MustMoto(t)
	ctx := testContext(t)
	raw := storetest.MustClient(t, endpoint)
	table := storetest.MustTable(t, raw)
	if _, err := raw.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName:               aws.String(table),
		TimeToLiveSpecification: &types.TimeToLiveSpecification{AttributeName: aws.String("expires"), Enabled: aws.Bool(true)},
	}); err != nil {
		t.Fatal(err)
	}
	c := MustOpen(t, dynamo.Options{Endpoint: endpoint})
	err := dynamo.CreateTable(ctx, c.API(), table, nil)
	if err == nil || !strings.Contains(err.Error(), `"expires"`) {
		t.Fatalf("got %v, want an error naming the attribute", err)
	}
}
