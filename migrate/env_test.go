package migrate_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/redis/go-redis/v9"

	"hotswap/dual"
	"hotswap/internal/testutil"
	"hotswap/migrate"
	"hotswap/proxy"
	"hotswap/proxy/upstream"
	"hotswap/translate"
)

// env is a Redis and a dynalite table with three families, at the stage given.
type env struct {
	redis   *testutil.Redis
	rc      *redis.Client // straight to Redis
	pool    *upstream.Pool
	db      *dynamodb.Client
	table   string
	m       *translate.Mapping
	mapping string // the mapping file
	syncer  *dual.Syncer
	ep      string
}

const mappingTmpl = `
table: %s
families:
  - name: user
    match: "user:{id}"
    type: hash
    pk: "user#{id}"
    sk: "profile"
    floor: %s
  - name: teams
    match: "teams:{id}"
    type: set
    pk: "user#{id}"
    sk: "teams"
    floor: %s
  - name: email
    match: "email:{e}"
    type: string
    pk: "email#{e}"
    sk: "id"
    floor: %s
`

func newEnv(tb testing.TB, stage string) *env {
	tb.Helper()
	ep := testutil.DynamoEndpoint(tb, testutil.Dynalite)
	db := testutil.MustDynamoClient(tb, ep)
	table := testutil.MustCreateTable(tb, db)
	text := fmt.Sprintf(mappingTmpl, table, stage, stage, stage)
	m, err := translate.ParseMapping([]byte(text), "migrate.yaml")
	if err != nil {
		tb.Fatal(err)
	}
	path := tb.TempDir() + "/mapping.yaml"
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		tb.Fatal(err)
	}
	r := testutil.MustStartRedis(tb)
	rc := redis.NewClient(&redis.Options{Addr: r.Addr, Protocol: 2, DisableIdentity: true, MaxRetries: 5, PoolSize: 8})
	tb.Cleanup(func() { rc.Close() })
	pool := upstream.NewPool(upstream.Options{Addr: r.Addr, ReadTimeout: 10 * time.Second, SharedConns: 4})
	tb.Cleanup(pool.Close)
	return &env{redis: r, rc: rc, pool: pool, db: db, table: table, m: m, mapping: path, ep: ep}
}

func (e *env) opts(tb testing.TB, family string) migrate.Options {
	return migrate.Options{
		Mapping:            e.m,
		Family:             family,
		Redis:              dual.RedisFunc(e.pool.Do),
		DB:                 e.db,
		Logger:             testLogger(tb),
		Rate:               -1,
		Concurrency:        16,
		Fleet:              func(context.Context, string) ([]string, error) { return nil, nil },
		LeaseTTL:           10 * time.Second,
		CheckpointInterval: 200 * time.Millisecond,
		UnmigratablePath:   tb.TempDir() + "/unmigratable-" + family + ".txt",
	}
}

func (e *env) verifyOpts(tb testing.TB, family string) migrate.VerifyOptions {
	return migrate.VerifyOptions{
		Mapping:      e.m,
		Family:       family,
		Redis:        dual.RedisFunc(e.pool.Do),
		DB:           e.db,
		Logger:       testLogger(tb),
		Concurrency:  8,
		RecheckDelay: 100 * time.Millisecond,
		LogValues:    true,
	}
}

func testLogger(tb testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// populate writes n keys per family straight into Redis: user:i (hash of 2 fields,
// every 10th with a TTL), teams:i (set of 2), email:i (string).
func (e *env) populate(tb testing.TB, n int, families ...string) {
	tb.Helper()
	ctx := context.Background()
	for start := 0; start < n; start += 2000 {
		p := e.rc.Pipeline()
		for i := start; i < min(n, start+2000); i++ {
			id := strconv.Itoa(i)
			for _, f := range families {
				switch f {
				case "user":
					p.HSet(ctx, "user:"+id, "name", "n"+id, "age", id)
					if i%10 == 0 {
						p.Expire(ctx, "user:"+id, time.Hour)
					}
				case "teams":
					p.SAdd(ctx, "teams:"+id, "a", "b"+id)
				case "email":
					p.Set(ctx, "email:"+id, "e"+id, 0)
				}
			}
		}
		if _, err := p.Exec(ctx); err != nil {
			tb.Fatal(err)
		}
	}
}

// startHotswap serves Redis + the table in front of e, with the families at their
// floors, and returns a client of it.
func (e *env) startHotswap(tb testing.TB) (*redis.Client, *dual.Syncer) {
	tb.Helper()
	eng, err := translate.NewEngine(translate.Options{Mapping: e.m, DB: e.db, Timeout: 5 * time.Second})
	if err != nil {
		tb.Fatal(err)
	}
	jpool := upstream.NewPool(upstream.Options{Addr: e.redis.Addr, ReadTimeout: 5 * time.Second})
	tb.Cleanup(jpool.Close)
	sy := dual.New(dual.Options{Engine: eng, Redis: dual.RedisFunc(jpool.Do), RepairInterval: 100 * time.Millisecond, RepairAge: 200 * time.Millisecond})
	sy.Open(context.Background())
	e.syncer = sy
	tb.Cleanup(func() { _ = sy.Close(context.Background()) })
	srv := proxy.New(proxy.Config{
		Upstream: upstream.Options{Addr: e.redis.Addr, ReadTimeout: 5 * time.Second},
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		Engine:   eng,
		Syncer:   sy,
	})
	if err := srv.Open(context.Background(), "127.0.0.1:0"); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = srv.Close(context.Background()) })
	c := redis.NewClient(&redis.Options{Addr: srv.Addr().String(), Protocol: 2, DisableIdentity: true, MaxRetries: -1, PoolSize: 16})
	tb.Cleanup(func() { c.Close() })
	return c, sy
}

// waitJournal waits until the sync journal is empty: every write through hotswap has
// reached DynamoDB. It also drives repair passes, as the repairer backs off for up to
// 30 s after a failed pass (dynalite overloaded by the test).
func (e *env) waitJournal(tb testing.TB) {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; ; i++ {
		n, err := e.rc.HLen(context.Background(), dual.DefaultJournalKey).Result()
		if err != nil {
			tb.Fatal(err)
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("the sync journal still holds %d entries; syncer %+v", n, e.syncer.Stats())
		}
		if i%20 == 19 {
			if err := e.syncer.RepairOnce(context.Background()); err != nil {
				tb.Logf("repair pass: %v", err)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// item reads a key's item strongly (nil: none).
func (e *env) item(tb testing.TB, key string) map[string]types.AttributeValue {
	tb.Helper()
	r, ok, err := e.m.Route([]byte(key))
	if err != nil || !ok {
		tb.Fatalf("route %q: %v %v", key, ok, err)
	}
	out, err := e.db.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String(e.table), Key: translate.ItemKey(&r), ConsistentRead: aws.Bool(true)})
	if err != nil {
		tb.Fatal(err)
	}
	return out.Item
}

// mustVerifyClean runs verify on every family and fails on any difference.
func (e *env) mustVerifyClean(tb testing.TB, families ...string) {
	tb.Helper()
	for _, f := range families {
		res, err := migrate.Verify(context.Background(), e.verifyOpts(tb, f))
		if err != nil {
			tb.Fatalf("verify %s: %v", f, err)
		}
		if res.Differences() != 0 || res.Errors != 0 {
			tb.Fatalf("verify %s: %d differences %v, %d errors; examples %+v", f, res.Differences(), res.Counts, res.Errors, res.Examples)
		}
		tb.Logf("verify %s: %d compared (%d in Redis, %d in DynamoDB) in %s", f, res.Compared, res.RedisKeys, res.DynamoKeys, res.Duration)
	}
}
