package translate

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"hotswap/proxy/command"
)

// Benchmarks of the engine's own cost per translated command: what hotswap spends on a
// command bound for DynamoDB besides the AWS SDK (request serialisation, signing, HTTP)
// and the network. The store is an in-process fake that answers at once, so ns/op and
// allocs/op are the proxy-side work: command lookup, key routing, loading and decoding
// the item, the handler, encoding the write and the reply. test/bench/translate.sh
// measures the whole path, SDK included, against dynalite.
//
//	go test ./translate -run '^$' -bench Engine -benchmem

// benchMapping is the mapping test/bench/translate.sh writes for its run, so the two
// measure the same families.
const benchMapping = `table: hotswap-bench
families:
  - name: user
    match: "user:{id}"
    type: hash
    pk: "user#{id}"
    sk: "profile"
    floor: complete
  - name: str
    match: "str:{id}"
    type: string
    pk: "str#{id}"
    sk: "value"
    floor: complete
  - name: team
    match: "team:{id}"
    type: set
    pk: "team#{id}"
    sk: "members"
    floor: complete
`

// benchStore answers every GetItem with one prepared item and every write with an
// empty output, as DynamoDB does for a write that asks for no old values (or finds
// none). The item is shared across calls: the engine only reads what GetItem returns.
type benchStore struct {
	item map[string]types.AttributeValue
}

var errBenchStore = errors.New("benchStore: operation not used by the benchmarks")

func (s *benchStore) GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	return &dynamodb.GetItemOutput{Item: s.item}, nil
}

func (s *benchStore) PutItem(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	return &dynamodb.PutItemOutput{}, nil
}

func (s *benchStore) UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	return &dynamodb.UpdateItemOutput{}, nil
}

func (s *benchStore) DeleteItem(context.Context, *dynamodb.DeleteItemInput, ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	return nil, errBenchStore
}

func (s *benchStore) Query(context.Context, *dynamodb.QueryInput, ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	return nil, errBenchStore
}

func (s *benchStore) Scan(context.Context, *dynamodb.ScanInput, ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error) {
	return nil, errBenchStore
}

func (s *benchStore) BatchGetItem(context.Context, *dynamodb.BatchGetItemInput, ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	return nil, errBenchStore
}

func (s *benchStore) BatchWriteItem(context.Context, *dynamodb.BatchWriteItemInput, ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	return nil, errBenchStore
}

func (s *benchStore) TransactGetItems(context.Context, *dynamodb.TransactGetItemsInput, ...func(*dynamodb.Options)) (*dynamodb.TransactGetItemsOutput, error) {
	return nil, errBenchStore
}

func (s *benchStore) TransactWriteItems(context.Context, *dynamodb.TransactWriteItemsInput, ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	return nil, errBenchStore
}

// benchValue is the 100-byte value redis-benchmark -d 100 and translate.sh write.
var benchValue = []byte(strings.Repeat("x", 100))

// benchEngine runs args through the engine b.N times, building the Cmd each time as
// the proxy does (command.Lookup, KeyIndexes, Mapping.Route), and checks the reply.
// stored is the value GetItem returns for the key (nil: no item).
func benchEngine(b *testing.B, stored *Value, want string, args ...string) {
	m, err := ParseMapping([]byte(benchMapping), "bench.yaml")
	if err != nil {
		b.Fatal(err)
	}
	argv := make([][]byte, len(args))
	for i, a := range args {
		argv[i] = []byte(a)
	}
	st := &benchStore{}
	if stored != nil {
		rt, ok, err := m.Route(argv[1])
		if !ok || err != nil {
			b.Fatalf("route %q: ok %v, err %v", argv[1], ok, err)
		}
		// Version 7: an item some writes old, as the steady state of a benchmark run.
		if st.item, err = encodeItem(&rt, argv[1], stored, 7, 0); err != nil {
			b.Fatal(err)
		}
	}
	e, err := NewEngine(Options{Mapping: m, DB: st})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	// The proxy keeps these per session and reuses them from command to command.
	var keys []int
	var routes []Route
	var c Cmd
	var out []byte
	b.ReportAllocs()
	for b.Loop() {
		info := command.Lookup(argv)
		keys = info.KeyIndexes(argv, keys[:0])
		routes = routes[:0]
		for _, ki := range keys {
			r, ok, err := m.Route(argv[ki])
			if !ok || err != nil {
				b.Fatalf("route %q: ok %v, err %v", argv[ki], ok, err)
			}
			routes = append(routes, r)
		}
		c = Cmd{Args: argv, Info: info, Keys: keys, Routes: routes}
		out = e.Exec(ctx, 2, &c, out[:0])
	}
	if string(out) != want {
		b.Fatalf("%s: reply %q, want %q", strings.Join(args, " "), out, want)
	}
	// The single-key commands the script measures must stay at one DynamoDB call each.
	s := e.Stats()
	b.ReportMetric(float64(s.Calls.Total())/float64(s.Commands), "ddbcalls/op")
}

// Keys as redis-benchmark's __rand_int__ writes them: 12 digits.
const benchID = "000000004711"

func BenchmarkEngine_GET(b *testing.B) {
	benchEngine(b, NewString(benchValue), "$100\r\n"+string(benchValue)+"\r\n", "GET", "str:"+benchID)
}

func BenchmarkEngine_HGETALL(b *testing.B) {
	h := NewHash()
	h.Hash["name"] = benchValue
	benchEngine(b, h, "*2\r\n$4\r\nname\r\n$100\r\n"+string(benchValue)+"\r\n", "HGETALL", "user:"+benchID)
}

func BenchmarkEngine_SET(b *testing.B) {
	benchEngine(b, nil, "+OK\r\n", "SET", "str:"+benchID, string(benchValue))
}

func BenchmarkEngine_HSET(b *testing.B) {
	benchEngine(b, nil, ":1\r\n", "HSET", "user:"+benchID, "name", string(benchValue))
}

func BenchmarkEngine_SADD(b *testing.B) {
	benchEngine(b, nil, ":1\r\n", "SADD", "team:"+benchID, "m"+benchID)
}
