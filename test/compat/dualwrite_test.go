package compat

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"hotswap/dual"
	"hotswap/internal/testutil"
	"hotswap/proxy"
	"hotswap/proxy/upstream"
	"hotswap/resp"
	"hotswap/translate"
)

// dualEnv is hotswap with families in the dualwrite and shadow stages: Redis is
// authoritative, every write is copied to DynamoDB (dynalite) through a TCP relay the
// test can cut.
type dualEnv struct {
	hs, back *testutil.RawClient
	db       *dynamodb.Client
	table    string
	syncer   *dual.Syncer
	relay    *relay
	m        *translate.Mapping
	addr     string // hotswap's
	redis    *testutil.Redis
	shadow   *dual.Shadow
}

func mustStartDual(tb testing.TB) *dualEnv {
	tb.Helper()
	return mustStartStages(tb, "dualwrite", "shadow", "dualwrite")
}

// mustStartStages starts hotswap with the user, teams and email families at the given
// stages (their floors).
func mustStartStages(tb testing.TB, userStage, teamsStage, emailStage string) *dualEnv {
	tb.Helper()
	ep := testutil.DynamoEndpoint(tb, testutil.Dynalite)
	db := testutil.MustDynamoClient(tb, ep)
	table := testutil.MustCreateTable(tb, db)
	rl := mustRelay(tb, strings.TrimPrefix(ep, "http://"))
	viaRelay := testutil.MustDynamoClient(tb, "http://"+rl.addr)
	m, err := translate.ParseMapping([]byte(fmt.Sprintf(`
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
`, table, userStage, teamsStage, emailStage)), "dual.yaml")
	if err != nil {
		tb.Fatal(err)
	}
	eng, err := translate.NewEngine(translate.Options{Mapping: m, DB: viaRelay, Timeout: 2 * time.Second})
	if err != nil {
		tb.Fatal(err)
	}
	back := testutil.MustStartRedis(tb)
	return startStages(tb, m, eng, db, table, rl, back)
}

func startStages(tb testing.TB, m *translate.Mapping, eng *translate.Engine, db *dynamodb.Client, table string, rl *relay, back *testutil.Redis) *dualEnv {
	tb.Helper()
	jpool := upstream.NewPool(upstream.Options{Addr: back.Addr, ReadTimeout: 5 * time.Second})
	tb.Cleanup(jpool.Close)
	sy := dual.New(dual.Options{
		Engine:         eng,
		Redis:          dual.RedisFunc(jpool.Do),
		RepairInterval: -1, // the test drives repairs
		RepairAge:      time.Millisecond,
	})
	sy.Open(context.Background())
	tb.Cleanup(func() { _ = sy.Close(context.Background()) })
	sh := dual.NewShadow(dual.ShadowOptions{Engine: eng, Redis: dual.RedisFunc(jpool.Do), Syncer: sy, RecheckDelay: 20 * time.Millisecond})
	srv := proxy.New(proxy.Config{
		Upstream: upstream.Options{Addr: back.Addr, ReadTimeout: 5 * time.Second},
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		Engine:   eng,
		Syncer:   sy,
		Shadow:   sh,
	})
	if err := srv.Open(context.Background(), "127.0.0.1:0"); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = srv.Close(context.Background()) })
	return &dualEnv{
		hs: testutil.MustDialRaw(tb, srv.Addr().String()), back: testutil.MustDialRaw(tb, back.Addr),
		db: db, table: table, syncer: sy, relay: rl, m: m, addr: srv.Addr().String(), redis: back, shadow: sh,
	}
}

// item returns the DynamoDB item of a key, decoded to its Redis state as a string for
// comparison ("" when missing or a tombstone).
func (d *dualEnv) item(tb testing.TB, key string) string {
	tb.Helper()
	r, ok, err := d.m.Route([]byte(key))
	if err != nil || !ok {
		tb.Fatalf("route %q: %v %v", key, ok, err)
	}
	out, err := d.db.GetItem(context.Background(), &dynamodb.GetItemInput{
		TableName:      aws.String(d.table),
		Key:            map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: r.PK}, "sk": &types.AttributeValueMemberS{Value: r.SK}},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		tb.Fatal(err)
	}
	if out.Item == nil {
		return ""
	}
	if t, _ := out.Item["_type"].(*types.AttributeValueMemberS); t != nil && t.Value == "tombstone" {
		return ""
	}
	var parts []string
	for name, av := range out.Item {
		if strings.HasPrefix(name, "_") || name == "pk" || name == "sk" {
			continue
		}
		switch v := av.(type) {
		case *types.AttributeValueMemberS:
			parts = append(parts, name+"="+v.Value)
		case *types.AttributeValueMemberSS:
			s := append([]string(nil), v.Value...)
			sort.Strings(s)
			parts = append(parts, name+"="+strings.Join(s, ","))
		default:
			parts = append(parts, fmt.Sprintf("%s=%v", name, av))
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

// redisState is the same rendering of the key's state in Redis.
func (d *dualEnv) redisState(tb testing.TB, key string) string {
	tb.Helper()
	t := strings.TrimSpace(strings.TrimPrefix(string(d.back.Do("TYPE", key)), "+"))
	var parts []string
	switch t {
	case "none":
		return ""
	case "string":
		v, _, _ := resp.Parse(d.back.Do("GET", key))
		return "v=" + string(v.Str)
	case "hash":
		v, _, _ := resp.Parse(d.back.Do("HGETALL", key))
		for i := 0; i+1 < len(v.Elems); i += 2 {
			parts = append(parts, string(v.Elems[i].Str)+"="+string(v.Elems[i+1].Str))
		}
	case "set":
		v, _, _ := resp.Parse(d.back.Do("SMEMBERS", key))
		var m []string
		for _, e := range v.Elems {
			m = append(m, string(e.Str))
		}
		sort.Strings(m)
		parts = append(parts, "m="+strings.Join(m, ","))
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

// eventuallyAgree waits until DynamoDB holds what Redis holds for every key.
func (d *dualEnv) eventuallyAgree(tb testing.TB, keys ...string) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var diffs []string
		for _, k := range keys {
			if r, i := d.redisState(tb, k), d.item(tb, k); r != i {
				diffs = append(diffs, fmt.Sprintf("%s: redis {%s} dynamodb {%s}", k, r, i))
			}
		}
		if len(diffs) == 0 {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("stores differ:\n%s", strings.Join(diffs, "\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (d *dualEnv) journalLen(tb testing.TB) string {
	tb.Helper()
	return string(d.back.Do("HLEN", dual.DefaultJournalKey))
}

// Writes in dualwrite and shadow go to Redis (the reply is Redis') and the key's whole
// state to DynamoDB; the journal empties once the copies are made.
func TestDual_WholeStateCopies(t *testing.T) {
	d := mustStartDual(t)
	// A user that existed in Redis before the migration (never copied).
	d.back.Do("HSET", "user:1", "name", "Ann", "age", "40", "city", "Oslo")
	// One field changes through hotswap: DynamoDB gets the whole hash.
	if got := string(d.hs.Do("HSET", "user:1", "age", "41")); got != ":0\r\n" {
		t.Fatalf("HSET: %q", got)
	}
	d.eventuallyAgree(t, "user:1")
	if got := d.item(t, "user:1"); got != "age=41 city=Oslo name=Ann" {
		t.Fatalf("item after a one-field HSET: %q", got)
	}
	// Other commands, untranslated ones included, and deletes.
	for _, c := range [][]string{
		{"HINCRBY", "user:1", "age", "1"},
		{"SADD", "teams:1", "red", "blue"},
		{"SREM", "teams:1", "red"},
		{"SET", "email:ann@x.io", "1"},
		{"EVAL", "redis.call('HSET', KEYS[1], 'via', 'lua') return 1", "1", "user:2"},
		{"MSET", "email:a@x.io", "2", "email:b@x.io", "3", "plain", "x"},
		{"DEL", "email:a@x.io", "plain"},
		{"RENAME", "email:b@x.io", "email:c@x.io"},
	} {
		if got := d.hs.Do(c...); bytes.HasPrefix(got, []byte("-")) {
			t.Fatalf("%q: %q", c, got)
		}
	}
	// A transaction.
	d.hs.Do("MULTI")
	d.hs.Do("HSET", "user:3", "name", "Tx")
	d.hs.Do("SADD", "teams:3", "green")
	if got := string(d.hs.Do("EXEC")); got != "*2\r\n:1\r\n:1\r\n" {
		t.Fatalf("EXEC: %q", got)
	}
	keys := []string{"user:1", "user:2", "user:3", "teams:1", "teams:3", "email:ann@x.io", "email:a@x.io", "email:b@x.io", "email:c@x.io"}
	d.eventuallyAgree(t, keys...)
	if got := d.item(t, "email:a@x.io"); got != "" {
		t.Errorf("deleted key still in DynamoDB: %q", got)
	}
	if got := string(d.back.Do("EXISTS", "plain")); got != ":0\r\n" {
		t.Errorf("plain key: %q", got)
	}
	eventuallyJournal(t, d, ":0\r\n")
}

func eventuallyJournal(t *testing.T, d *dualEnv, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for d.journalLen(t) != want {
		if time.Now().After(deadline) {
			t.Fatalf("journal length %q, want %q", d.journalLen(t), want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// With DynamoDB unreachable, clients see no error and no delay; the journal keeps every
// key written, and once DynamoDB is back the repairer copies them and empties it.
func TestDual_SecondaryDownThenRepaired(t *testing.T) {
	d := mustStartDual(t)
	d.relay.cut()
	start := time.Now()
	for i := 0; i < 50; i++ {
		k := fmt.Sprintf("user:%d", i)
		if got := string(d.hs.Do("HSET", k, "n", fmt.Sprint(i))); got != ":1\r\n" {
			t.Fatalf("HSET with DynamoDB down: %q", got)
		}
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("50 writes took %v with DynamoDB down: clients waited on the secondary", el)
	}
	time.Sleep(100 * time.Millisecond)
	if got := d.journalLen(t); got != ":50\r\n" {
		t.Fatalf("journal while DynamoDB is down: %q, want 50 entries", got)
	}
	d.relay.restore()
	// The breaker may be open for a moment after the failures.
	deadline := time.Now().Add(15 * time.Second)
	for d.journalLen(t) != ":0\r\n" && time.Now().Before(deadline) {
		_ = d.syncer.RepairOnce(context.Background())
		time.Sleep(100 * time.Millisecond)
	}
	keys := make([]string, 50)
	for i := range keys {
		keys[i] = fmt.Sprintf("user:%d", i)
	}
	d.eventuallyAgree(t, keys...)
	if st := d.syncer.Stats(); st.Repaired == 0 {
		t.Errorf("stats: %+v: want repairs", st)
	}
}

// Concurrent writers on a few hot keys: every acknowledged SADD token is in both stores.
func TestDual_ConcurrentWritersAgree(t *testing.T) {
	d := mustStartDual(t)
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			c := testutil.MustDialRaw(t, d.hsAddr())
			for i := 0; i < 100; i++ {
				k := fmt.Sprintf("teams:%d", i%5)
				if got := string(c.Do("SADD", k, fmt.Sprintf("w%d-%d", w, i))); got != ":1\r\n" {
					t.Errorf("SADD: %q", got)
					return
				}
				if i%7 == 0 {
					c.Do("HINCRBY", fmt.Sprintf("user:%d", i%3), "n", "1")
				}
			}
		}(w)
	}
	wg.Wait()
	d.eventuallyAgree(t, "teams:0", "teams:1", "teams:2", "teams:3", "teams:4", "user:0", "user:1", "user:2")
	eventuallyJournal(t, d, ":0\r\n")
}

func (d *dualEnv) hsAddr() string { return d.addr }

// relay is a TCP forwarder the test can cut (connections refused and dropped) and
// restore, to make DynamoDB unreachable.
type relay struct {
	addr, target string
	mu           sync.Mutex
	down         bool
	conns        []net.Conn
}

func mustRelay(tb testing.TB, target string) *relay {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	r := &relay{addr: ln.Addr().String(), target: target}
	tb.Cleanup(func() { ln.Close(); r.cut() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			r.mu.Lock()
			if r.down {
				r.mu.Unlock()
				c.Close()
				continue
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				r.mu.Unlock()
				c.Close()
				continue
			}
			r.conns = append(r.conns, c, up)
			r.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); up.Close() }()
			go func() { _, _ = io.Copy(c, up); c.Close() }()
		}
	}()
	return r
}

func (r *relay) cut() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.down = true
	for _, c := range r.conns {
		c.Close()
	}
	r.conns = nil
}

func (r *relay) restore() {
	r.mu.Lock()
	r.down = false
	r.mu.Unlock()
}

// In shadow, reads are compared with DynamoDB off the reply path: agreeing reads count
// as matches; a key changed around hotswap is found, counted, journalled and repaired.
func TestDual_ShadowReads(t *testing.T) {
	d := mustStartDual(t) // teams is in shadow
	d.hs.Do("SADD", "teams:1", "red", "blue")
	d.eventuallyAgree(t, "teams:1")
	eventuallyJournal(t, d, ":0\r\n")
	for i := 0; i < 5; i++ {
		if got := string(d.hs.Do("SCARD", "teams:1")); got != ":2\r\n" {
			t.Fatalf("SCARD: %q", got)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for d.shadow.Stats().Match < 5 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if st := d.shadow.Stats(); st.Match < 5 || st.MismatchValue+st.MismatchMissing > 0 {
		t.Fatalf("shadow stats after agreeing reads: %+v", st)
	}
	// A writer that bypasses hotswap: Redis and DynamoDB now differ.
	d.back.Do("SADD", "teams:1", "green")
	d.hs.Do("SMEMBERS", "teams:1")
	deadline = time.Now().Add(5 * time.Second)
	for d.shadow.Stats().MismatchValue == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if st := d.shadow.Stats(); st.MismatchValue != 1 {
		t.Fatalf("shadow stats after a bypassing write: %+v", st)
	}
	// The key was journalled: the repairer copies Redis' state to DynamoDB.
	deadline = time.Now().Add(10 * time.Second)
	for d.redisState(t, "teams:1") != d.item(t, "teams:1") && time.Now().Before(deadline) {
		_ = d.syncer.RepairOnce(context.Background())
		time.Sleep(50 * time.Millisecond)
	}
	d.eventuallyAgree(t, "teams:1")
}
