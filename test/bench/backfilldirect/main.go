// Command backfilldirect is the ceiling test/bench/backfill.sh compares `hotswap
// backfill` with: the same conditional PutItems (the items backfill writes for the
// small hashes the script loads, with the same condition) made by a plain Go program
// with the same concurrency and the same DynamoDB client settings, and no Redis.
//
//	backfilldirect -endpoint URL -table T -n 1000000 -c 16
//
// It prints one line: keys seconds keys_per_second.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"hotswap/translate/dynamo"
)

func main() {
	endpoint := flag.String("endpoint", "", "DynamoDB endpoint URL (required)")
	table := flag.String("table", "", "table (required)")
	n := flag.Int("n", 100000, "keys user:0 .. user:n-1")
	c := flag.Int("c", 16, "PutItems in flight")
	drop := flag.Bool("drop", false, "delete the table and exit")
	flag.Parse()
	if *drop && *endpoint != "" && *table != "" {
		if err := dropTable(*endpoint, *table); err != nil {
			fmt.Fprintln(os.Stderr, "backfilldirect:", err)
			os.Exit(1)
		}
		return
	}
	if *endpoint == "" || *table == "" || *n <= 0 || *c <= 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*endpoint, *table, *n, *c); err != nil {
		fmt.Fprintln(os.Stderr, "backfilldirect:", err)
		os.Exit(1)
	}
}

func dropTable(endpoint, table string) error {
	ctx := context.Background()
	client, err := dynamo.Open(ctx, dynamo.Options{Endpoint: endpoint})
	if err != nil {
		return err
	}
	db, ok := client.API().(*dynamodb.Client)
	if !ok {
		return fmt.Errorf("no DynamoDB client")
	}
	_, err = db.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(table)})
	return err
}

func run(endpoint, table string, n, c int) error {
	ctx := context.Background()
	client, err := dynamo.Open(ctx, dynamo.Options{Endpoint: endpoint, Logger: slog.New(slog.DiscardHandler), MaxConns: max(16, 2*c)})
	if err != nil {
		return err
	}
	db := client.DB()
	var next atomic.Int64
	var failed atomic.Int64
	var firstErr atomic.Value
	start := time.Now()
	var wg sync.WaitGroup
	for range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				id := strconv.FormatInt(i, 10)
				_, err := db.PutItem(ctx, &dynamodb.PutItemInput{
					TableName: aws.String(table),
					Item: map[string]types.AttributeValue{
						"pk":    &types.AttributeValueMemberS{Value: "user#" + id},
						"sk":    &types.AttributeValueMemberS{Value: "profile"},
						"_key":  &types.AttributeValueMemberS{Value: "user:" + id},
						"_ver":  &types.AttributeValueMemberN{Value: strconv.FormatInt(i+1, 10)},
						"_type": &types.AttributeValueMemberS{Value: "hash"},
						"name":  &types.AttributeValueMemberS{Value: "n" + id},
						"age":   &types.AttributeValueMemberS{Value: strconv.FormatInt(i%90, 10)},
					},
					ConditionExpression:      aws.String("attribute_not_exists(#pk) OR (#type <> :tomb AND #ver < :ver)"),
					ExpressionAttributeNames: map[string]string{"#pk": "pk", "#type": "_type", "#ver": "_ver"},
					ExpressionAttributeValues: map[string]types.AttributeValue{
						":tomb": &types.AttributeValueMemberS{Value: "tombstone"},
						":ver":  &types.AttributeValueMemberN{Value: strconv.FormatInt(i+1, 10)},
					},
				})
				if err != nil && !dynamo.IsConditionFailed(err) {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
				}
			}
		}()
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	if f := failed.Load(); f > 0 {
		return fmt.Errorf("%d PutItems failed, the first: %v", f, firstErr.Load())
	}
	fmt.Printf("%d %.3f %.0f\n", n, secs, float64(n)/secs)
	return nil
}
