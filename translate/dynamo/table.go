package dynamo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"hotswap/translate"
)

const (
	// tableWait bounds the wait for a new table to become ACTIVE (seconds on AWS for
	// an empty on-demand table; minutes would mean something is wrong).
	tableWait = 5 * time.Minute
	// pitrWait bounds the retries of UpdateContinuousBackups while AWS answers
	// ContinuousBackupsUnavailableException, which it does for a while after a table
	// is created.
	pitrWait     = 2 * time.Minute
	pitrInterval = 5 * time.Second
)

// CreateTable creates the table hotswap writes to and readies it, idempotently:
//
//   - key schema pk (S, HASH) + sk (S, RANGE), on-demand billing (PAY_PER_REQUEST);
//     a table that already exists with this key schema is kept as it is, one with
//     another key schema is an error wrapping ErrKeySchema;
//   - waits until the table is ACTIVE (at most 5 minutes);
//   - enables DynamoDB's TTL on translate.AttrTTL, which deletes expired keys (late:
//     reads never trust it, DESIGN.md §4), and point-in-time recovery. A server that
//     does not implement them (dynalite) is logged at INFO and skipped; a TTL already
//     enabled on AttrTTL is fine, one enabled on another attribute is an error.
//
// log may be nil.
func CreateTable(ctx context.Context, api API, name string, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if name == "" {
		return errors.New("dynamo: create table: no table name")
	}
	desc, err := api.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)})
	switch {
	case err == nil:
		if err := checkKeySchema(desc.Table); err != nil {
			return fmt.Errorf("dynamo: create table %s: %w", name, err)
		}
		log.Info("table exists", logKeyTable, name, "status", desc.Table.TableStatus)
	case IsNotFound(err):
		_, err = api.CreateTable(ctx, &dynamodb.CreateTableInput{
			TableName: aws.String(name),
			AttributeDefinitions: []types.AttributeDefinition{
				{AttributeName: aws.String(translate.AttrPK), AttributeType: types.ScalarAttributeTypeS},
				{AttributeName: aws.String(translate.AttrSK), AttributeType: types.ScalarAttributeTypeS},
			},
			KeySchema: []types.KeySchemaElement{
				{AttributeName: aws.String(translate.AttrPK), KeyType: types.KeyTypeHash},
				{AttributeName: aws.String(translate.AttrSK), KeyType: types.KeyTypeRange},
			},
			BillingMode: types.BillingModePayPerRequest,
		})
		var inUse *types.ResourceInUseException
		switch {
		case err == nil:
			log.Info("table created", logKeyTable, name)
		case errors.As(err, &inUse):
			// Another `table create` got there first; its key schema is checked below.
			log.Info("table created concurrently by someone else", logKeyTable, name)
		default:
			return fmt.Errorf("dynamo: create table %s: %w", name, err)
		}
	default:
		return fmt.Errorf("dynamo: create table %s: describe: %w", name, err)
	}

	w := dynamodb.NewTableExistsWaiter(api, func(o *dynamodb.TableExistsWaiterOptions) {
		// The SDK's defaults (20 s to 120 s between polls) suit tables with indexes;
		// an empty on-demand table is ACTIVE in seconds.
		o.MinDelay, o.MaxDelay = 500*time.Millisecond, 5*time.Second
	})
	desc, err = w.WaitForOutput(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)}, tableWait)
	if err != nil {
		return fmt.Errorf("dynamo: create table %s: wait until active: %w", name, err)
	}
	if err := checkKeySchema(desc.Table); err != nil {
		return fmt.Errorf("dynamo: create table %s: %w", name, err)
	}
	if err := enableTTL(ctx, api, name, log); err != nil {
		return err
	}
	if err := enablePITR(ctx, api, name, log); err != nil {
		return err
	}
	log.Info("table ready", logKeyTable, name)
	return nil
}

// checkKeySchema accepts exactly pk (S, HASH) + sk (S, RANGE).
func checkKeySchema(t *types.TableDescription) error {
	if t == nil {
		return errors.New("describe table: no table description")
	}
	attrType := map[string]types.ScalarAttributeType{}
	for _, a := range t.AttributeDefinitions {
		attrType[aws.ToString(a.AttributeName)] = a.AttributeType
	}
	var have []string
	for _, k := range t.KeySchema {
		n := aws.ToString(k.AttributeName)
		have = append(have, fmt.Sprintf("%s (%s, %s)", n, attrType[n], k.KeyType))
	}
	got := strings.Join(have, " + ")
	want := fmt.Sprintf("%s (S, HASH) + %s (S, RANGE)", translate.AttrPK, translate.AttrSK)
	if got != want {
		return fmt.Errorf("%w: it has %s, hotswap needs %s (use another table name)", ErrKeySchema, got, want)
	}
	return nil
}

func enableTTL(ctx context.Context, api API, name string, log *slog.Logger) error {
	d, err := api.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(name)})
	if IsUnsupported(err) {
		log.Info("ttl not enabled: the server does not implement it; expired items stay until deleted (reads treat them as missing)",
			logKeyTable, name, logKeyReason, err)
		return nil
	}
	if err != nil {
		return fmt.Errorf("dynamo: create table %s: describe ttl: %w", name, err)
	}
	if ttl := d.TimeToLiveDescription; ttl != nil {
		attr := aws.ToString(ttl.AttributeName)
		switch ttl.TimeToLiveStatus {
		case types.TimeToLiveStatusEnabled, types.TimeToLiveStatusEnabling:
			if attr == translate.AttrTTL {
				log.Info("ttl already enabled", logKeyTable, name, "attribute", attr)
				return nil
			}
			return fmt.Errorf("dynamo: create table %s: ttl is enabled on attribute %q; hotswap needs it on %q", name, attr, translate.AttrTTL)
		case types.TimeToLiveStatusDisabling:
			return fmt.Errorf("dynamo: create table %s: ttl is being disabled (on %q); run again once it is disabled", name, attr)
		}
	}
	_, err = api.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName: aws.String(name),
		TimeToLiveSpecification: &types.TimeToLiveSpecification{
			AttributeName: aws.String(translate.AttrTTL),
			Enabled:       aws.Bool(true),
		},
	})
	switch {
	case err == nil:
		log.Info("ttl enabled", logKeyTable, name, "attribute", translate.AttrTTL)
	case IsUnsupported(err):
		log.Info("ttl not enabled: the server does not implement it; expired items stay until deleted (reads treat them as missing)",
			logKeyTable, name, logKeyReason, err)
	default:
		return fmt.Errorf("dynamo: create table %s: enable ttl: %w", name, err)
	}
	return nil
}

func enablePITR(ctx context.Context, api API, name string, log *slog.Logger) error {
	d, err := api.DescribeContinuousBackups(ctx, &dynamodb.DescribeContinuousBackupsInput{TableName: aws.String(name)})
	if IsUnsupported(err) {
		log.Info("point-in-time recovery not enabled: the server does not implement it", logKeyTable, name, logKeyReason, err)
		return nil
	}
	if err != nil {
		return fmt.Errorf("dynamo: create table %s: describe continuous backups: %w", name, err)
	}
	if cb := d.ContinuousBackupsDescription; cb != nil && cb.PointInTimeRecoveryDescription != nil &&
		cb.PointInTimeRecoveryDescription.PointInTimeRecoveryStatus == types.PointInTimeRecoveryStatusEnabled {
		log.Info("point-in-time recovery already enabled", logKeyTable, name)
		return nil
	}
	deadline := time.Now().Add(pitrWait)
	for {
		_, err = api.UpdateContinuousBackups(ctx, &dynamodb.UpdateContinuousBackupsInput{
			TableName: aws.String(name),
			PointInTimeRecoverySpecification: &types.PointInTimeRecoverySpecification{
				PointInTimeRecoveryEnabled: aws.Bool(true),
			},
		})
		var unavailable *types.ContinuousBackupsUnavailableException
		switch {
		case err == nil:
			log.Info("point-in-time recovery enabled", logKeyTable, name)
			return nil
		case IsUnsupported(err):
			log.Info("point-in-time recovery not enabled: the server does not implement it", logKeyTable, name, logKeyReason, err)
			return nil
		case errors.As(err, &unavailable) && time.Now().Before(deadline):
			log.Info("point-in-time recovery not available yet: retrying", logKeyTable, name, logKeyReason, err)
			select {
			case <-ctx.Done():
				return fmt.Errorf("dynamo: create table %s: enable point-in-time recovery: %w", name, ctx.Err())
			case <-time.After(pitrInterval):
			}
		default:
			return fmt.Errorf("dynamo: create table %s: enable point-in-time recovery: %w", name, err)
		}
	}
}
