// Command ddbdirect is the "direct" side of test/bench/translate.sh: it makes, with the
// AWS SDK and no proxy in between, the DynamoDB calls hotswap makes for GET, HGETALL,
// SET, HSET and SADD on the keys of a mapping's families, from concurrent workers, and
// reports throughput, latency and its own CPU time per call.
//
//	ddbdirect -endpoint URL -mapping FILE -create
//	ddbdirect -endpoint URL -mapping FILE -preload -c 16 -r 10000
//	ddbdirect -endpoint URL -mapping FILE -op get -c 16 -n 20000 -r 10000 [-d 100]
//
// Keys are named as redis-benchmark names them with -r (family prefix, then
// __rand_int__'s 12 digits: user:000000004711) and routed with the mapping file hotswap
// serves, once before the timed part, so both sides hit the same items. Each call is the
// one hotswap makes (translate/engine.go load, translate/fast.go): GetItem with
// ConsistentRead for GET and HGETALL, one conditional UpdateItem for SET, HSET and SADD,
// with the same expressions, so items written by either side read back on the other.
// The client is hotswap's own (translate/dynamo.Open: same HTTP transport, pool sizes and
// retry settings), so the comparison measures the proxy, not a differently tuned client.
//
// With -op, the one line on stdout is "rps p50_ms p99_ms cpu_us_per_call" (cpu: this
// process's user+system time over the timed part, divided by the calls). It exits 1 if
// any call failed.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"hotswap/translate"
	"hotswap/translate/dynamo"
)

// opKey is the Redis key prefix each operation works on; the mapping must route it.
var opKey = map[string]string{
	"get":     "str:",
	"set":     "str:",
	"hgetall": "user:",
	"hset":    "user:",
	"sadd":    "team:",
}

type config struct {
	endpoint, region, mapping, table, op string
	clients, count, keyspace, dataSize   int
	create, preload                      bool
	timeout                              time.Duration
}

func main() {
	var cfg config
	flag.StringVar(&cfg.endpoint, "endpoint", "", "DynamoDB endpoint URL (required)")
	flag.StringVar(&cfg.region, "region", "", "AWS region (default: the SDK's resolution, else us-east-1)")
	flag.StringVar(&cfg.mapping, "mapping", "", "hotswap mapping file whose families route the keys (required)")
	flag.StringVar(&cfg.table, "table", "", "table (default: the mapping's)")
	flag.StringVar(&cfg.op, "op", "", "get, hgetall, set, hset or sadd")
	flag.IntVar(&cfg.clients, "c", 16, "concurrent workers")
	flag.IntVar(&cfg.count, "n", 10000, "calls in all")
	flag.IntVar(&cfg.keyspace, "r", 10000, "keys 0..r-1, picked at random (preload: all of them)")
	flag.IntVar(&cfg.dataSize, "d", 100, "bytes of each SET and HSET value")
	flag.BoolVar(&cfg.create, "create", false, "create the table (pk S HASH, sk S RANGE, on demand) if missing, and wait until it is active")
	flag.BoolVar(&cfg.preload, "preload", false, "write every key 0..r-1 once with set, hset and sadd, so reads find data")
	flag.DurationVar(&cfg.timeout, "timeout", translate.DefaultTimeout, "bound on one call, as hotswap's --dynamodb-timeout")
	procs := flag.Int("procs", 0, "GOMAXPROCS (0: Go's default)")
	flag.Parse()
	if *procs > 0 {
		runtime.GOMAXPROCS(*procs)
	}
	if err := run(context.Background(), cfg); err != nil {
		fmt.Fprintln(os.Stderr, "ddbdirect:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg config) error {
	if cfg.endpoint == "" || cfg.mapping == "" {
		return errors.New("-endpoint and -mapping are required")
	}
	if cfg.clients < 1 || cfg.count < 1 || cfg.keyspace < 1 || cfg.dataSize < 0 {
		return errors.New("-c, -n and -r must be positive, -d not negative")
	}
	m, err := translate.LoadMapping(cfg.mapping)
	if err != nil {
		return err
	}
	if cfg.table == "" {
		cfg.table = m.Table
	}
	client, err := dynamo.Open(ctx, dynamo.Options{Endpoint: cfg.endpoint, Region: cfg.region})
	if err != nil {
		return err
	}
	defer client.Close()
	b := &bench{db: client.DB(), table: aws.String(cfg.table), value: strings.Repeat("x", cfg.dataSize), timeout: cfg.timeout}
	switch {
	case cfg.create:
		return createTable(ctx, client.API(), cfg.table)
	case cfg.preload:
		for _, op := range []string{"set", "hset", "sadd"} {
			keys, err := routeKeys(m, opKey[op], cfg.keyspace)
			if err != nil {
				return err
			}
			var next atomic.Int64
			res, err := b.run(ctx, op, keys, cfg.clients, cfg.keyspace, func(*rand.Rand) int {
				return int(next.Add(1) - 1)
			})
			if err != nil {
				return fmt.Errorf("preload %s: %w", op, err)
			}
			fmt.Fprintf(os.Stderr, "ddbdirect: preload %s: %d keys at %.0f/s\n", op, cfg.keyspace, res.rps)
		}
		return nil
	}
	prefix, ok := opKey[cfg.op]
	if !ok {
		return fmt.Errorf("-op %q: want get, hgetall, set, hset or sadd", cfg.op)
	}
	keys, err := routeKeys(m, prefix, cfg.keyspace)
	if err != nil {
		return err
	}
	// One call per worker first, outside the timed part: redis-benchmark connects its
	// clients before it starts the clock, and hotswap's connections to DynamoDB are
	// already open by then, so the direct side starts with warm connections too.
	if _, err := b.run(ctx, "get", keys, cfg.clients, cfg.clients, func(*rand.Rand) int { return 0 }); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	res, err := b.run(ctx, cfg.op, keys, cfg.clients, cfg.count, func(rng *rand.Rand) int { return rng.IntN(len(keys)) })
	if err != nil {
		return err
	}
	fmt.Printf("%.1f %.3f %.3f %.2f\n", res.rps, ms(res.p50), ms(res.p99), res.cpuPerCall)
	fmt.Fprintf(os.Stderr, "ddbdirect: %s x%d, %d workers: %.0f calls/s, p50 %.3f ms, p99 %.3f ms, %.1f us CPU/call\n",
		cfg.op, cfg.count, cfg.clients, res.rps, ms(res.p50), ms(res.p99), res.cpuPerCall)
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// itemRef is one key and the primary key of its item.
type itemRef struct {
	key string
	pk  map[string]types.AttributeValue
}

// routeKeys names keys prefix%012d for 0..n-1 (redis-benchmark's __rand_int__) and
// routes them with the mapping.
func routeKeys(m *translate.Mapping, prefix string, n int) ([]itemRef, error) {
	keys := make([]itemRef, n)
	for i := range keys {
		k := fmt.Sprintf("%s%012d", prefix, i)
		r, ok, err := m.Route([]byte(k))
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("key %q matches no family of the mapping", k)
		}
		keys[i] = itemRef{key: k, pk: map[string]types.AttributeValue{
			translate.AttrPK: &types.AttributeValueMemberS{Value: r.PK},
			translate.AttrSK: &types.AttributeValueMemberS{Value: r.SK},
		}}
	}
	return keys, nil
}

type bench struct {
	db      translate.Store
	table   *string
	value   string
	timeout time.Duration
}

type result struct {
	rps        float64
	p50, p99   time.Duration
	cpuPerCall float64 // µs of user+system time
}

// run makes n calls of op from workers goroutines, each on keys[pick(rng)].
func (b *bench) run(ctx context.Context, op string, keys []itemRef, workers, n int, pick func(*rand.Rand) int) (result, error) {
	var next atomic.Int64
	var firstErr error
	var errOnce sync.Once
	var failed atomic.Int64
	lats := make([][]time.Duration, workers)
	var wg sync.WaitGroup
	cpu0 := cpuTime()
	start := time.Now()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w)+1, uint64(start.UnixNano())))
			lat := make([]time.Duration, 0, n/workers+1)
			for next.Add(1) <= int64(n) {
				k := &keys[pick(rng)]
				t0 := time.Now()
				err := b.call(ctx, op, k, rng, len(keys))
				lat = append(lat, time.Since(t0))
				if err != nil {
					failed.Add(1)
					errOnce.Do(func() { firstErr = fmt.Errorf("%s %s: %w", op, k.key, err) })
				}
			}
			lats[w] = lat
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu := cpuTime() - cpu0
	if firstErr != nil {
		return result{}, fmt.Errorf("%d of %d calls failed, the first: %w", failed.Load(), n, firstErr)
	}
	all := slices.Concat(lats...)
	slices.Sort(all)
	return result{
		rps:        float64(len(all)) / elapsed.Seconds(),
		p50:        percentile(all, 50),
		p99:        percentile(all, 99),
		cpuPerCall: float64(cpu) / float64(time.Microsecond) / float64(len(all)),
	}, nil
}

// percentile of sorted samples, nearest rank.
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := (len(sorted)*p + 99) / 100
	return sorted[max(i, 1)-1]
}

// cpuTime is this process's user+system time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// call makes the one DynamoDB call hotswap makes for the command.
func (b *bench) call(ctx context.Context, op string, k *itemRef, rng *rand.Rand, keyspace int) error {
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	var err error
	switch op {
	case "get", "hgetall":
		// translate/engine.go load: one key, strong family.
		_, err = b.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: b.table, Key: k.pk, ConsistentRead: aws.Bool(true)})
	case "set":
		_, err = b.db.UpdateItem(ctx, b.setInput(k))
	case "hset":
		_, err = b.db.UpdateItem(ctx, b.hsetInput(k))
	case "sadd":
		_, err = b.db.UpdateItem(ctx, b.saddInput(k, fmt.Sprintf("m%012d", rng.IntN(keyspace))))
	default:
		err = fmt.Errorf("unknown op %q", op)
	}
	return err
}

// The inputs below are translate/fast.go's (fastInput, fastSet, fastHSet, fastSAdd) for
// SET key value, HSET key name value and SADD key member, written out: keep them in
// step with it, or the two sides stop measuring the same call (and the script's
// read-back check after the preload fails if the item layout drifts).

const liveCondition = "attribute_not_exists(#pk) OR (#type = :type AND #key = :key AND (attribute_not_exists(#exp) OR #exp >= :now))"

func (b *bench) updateInput(k *itemRef, kind string) (*dynamodb.UpdateItemInput, map[string]string, map[string]types.AttributeValue) {
	names := map[string]string{"#pk": translate.AttrPK, "#type": translate.AttrType, "#key": translate.AttrKey, "#ver": translate.AttrVersion}
	vals := map[string]types.AttributeValue{
		":type": &types.AttributeValueMemberS{Value: kind},
		":key":  &types.AttributeValueMemberS{Value: k.key},
		":one":  &types.AttributeValueMemberN{Value: "1"},
	}
	return &dynamodb.UpdateItemInput{TableName: b.table, Key: k.pk}, names, vals
}

func nowMillis() types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(time.Now().UnixMilli(), 10)}
}

func (b *bench) setInput(k *itemRef) *dynamodb.UpdateItemInput {
	in, names, vals := b.updateInput(k, "string")
	names["#v"] = translate.AttrValue
	names["#exp"] = translate.AttrExpire
	names["#ttl"] = translate.AttrTTL
	vals[":v"] = &types.AttributeValueMemberS{Value: b.value}
	vals[":tomb"] = &types.AttributeValueMemberS{Value: "tombstone"}
	in.UpdateExpression = aws.String("SET #type = :type, #key = :key, #v = :v ADD #ver :one REMOVE #exp, #ttl")
	in.ConditionExpression = aws.String("attribute_not_exists(#pk) OR ((#type = :type OR #type = :tomb) AND #key = :key)")
	in.ExpressionAttributeNames, in.ExpressionAttributeValues = names, vals
	return in
}

func (b *bench) hsetInput(k *itemRef) *dynamodb.UpdateItemInput {
	in, names, vals := b.updateInput(k, "hash")
	names["#exp"] = translate.AttrExpire
	vals[":now"] = nowMillis()
	names["#f1"] = "name"
	vals[":v1"] = &types.AttributeValueMemberS{Value: b.value}
	in.UpdateExpression = aws.String("SET #type = :type, #key = :key, #f1 = :v1 ADD #ver :one")
	in.ConditionExpression = aws.String(liveCondition)
	in.ExpressionAttributeNames, in.ExpressionAttributeValues = names, vals
	in.ReturnValues = types.ReturnValueUpdatedOld
	return in
}

func (b *bench) saddInput(k *itemRef, member string) *dynamodb.UpdateItemInput {
	in, names, vals := b.updateInput(k, "set")
	names["#exp"] = translate.AttrExpire
	names["#m"] = translate.AttrMembers
	vals[":now"] = nowMillis()
	vals[":m"] = &types.AttributeValueMemberSS{Value: []string{member}}
	in.UpdateExpression = aws.String("SET #type = :type, #key = :key ADD #m :m, #ver :one")
	in.ConditionExpression = aws.String(liveCondition)
	in.ExpressionAttributeNames, in.ExpressionAttributeValues = names, vals
	in.ReturnValues = types.ReturnValueUpdatedOld
	return in
}

// createTable makes the table hotswap needs (the key schema of `hotswap table create`,
// without TTL and point-in-time recovery, which a benchmark does not need) unless it
// exists, and waits until it is active.
func createTable(ctx context.Context, api dynamo.API, table string) error {
	_, err := api.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName: aws.String(table),
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
	if err != nil && !errors.As(err, &inUse) {
		return fmt.Errorf("create table %s: %w", table, err)
	}
	w := dynamodb.NewTableExistsWaiter(api, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay, o.MaxDelay = 200*time.Millisecond, 2*time.Second
	})
	if err := w.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)}, 2*time.Minute); err != nil {
		return fmt.Errorf("create table %s: wait until active: %w", table, err)
	}
	fmt.Fprintf(os.Stderr, "ddbdirect: table %s is active\n", table)
	return nil
}
