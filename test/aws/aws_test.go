//go:build aws

package awssmoke

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/redis/go-redis/v9"

	"hotswap/internal/testutil"
)

// env: the test's settings.
//
//	HOTSWAP_AWS_TABLE         an existing table with hotswap's key schema (pk S, sk S); the
//	                          test writes only keys under a random prefix and deletes them
//	HOTSWAP_AWS_CREATE_TABLE  1: without HOTSWAP_AWS_TABLE, create a table with `hotswap
//	                          table create` and delete it at the end (needs CreateTable,
//	                          DeleteTable)
//	HOTSWAP_AWS_DAX_ENDPOINT  dax://host:port or daxs://...: also run the load through DAX
//	HOTSWAP_AWS_LOAD_DURATION the load's length per endpoint (default 10s)
//	HOTSWAP_AWS_LOAD_VUS      connections of the load (default 8)
//	AWS_REGION, AWS_PROFILE, ... the SDK's usual credential and region sources
func settings(t *testing.T) (table string) {
	table = os.Getenv("HOTSWAP_AWS_TABLE")
	create := os.Getenv("HOTSWAP_AWS_CREATE_TABLE") == "1"
	if table == "" && !create {
		t.Skip("skipped: this smoke test runs against real AWS only. Set HOTSWAP_AWS_TABLE=<table> (an existing table with pk S + sk S) " +
			"or HOTSWAP_AWS_CREATE_TABLE=1, with AWS credentials and AWS_REGION; see README \"Testing against AWS\"")
	}
	return table
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func TestAWSSmoke(t *testing.T) {
	table := settings(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()

	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		t.Skipf("skipped: AWS configuration does not load: %v", err)
	}
	if cfg.Region == "" {
		t.Skip("skipped: no AWS region (set AWS_REGION)")
	}
	cctx, ccancel := context.WithTimeout(ctx, 20*time.Second)
	if _, err := cfg.Credentials.Retrieve(cctx); err != nil {
		ccancel()
		t.Skipf("skipped: no AWS credentials: %v", err)
	}
	ccancel()
	db := dynamodb.NewFromConfig(cfg)

	bin := buildHotswap(t)
	dir := t.TempDir()
	if table == "" {
		table = "hotswap-smoke-" + randomHex(4)
		m := writeMapping(t, dir, table, "x", "strong")
		out, err := exec.CommandContext(ctx, bin, "table", "create", "--mapping", m, "--region", cfg.Region).CombinedOutput()
		if err != nil {
			t.Fatalf("hotswap table create: %v\n%s", err, out)
		}
		t.Logf("created table %s", table)
		t.Cleanup(func() {
			dctx, dcancel := context.WithTimeout(context.Background(), time.Minute)
			defer dcancel()
			if _, err := db.DeleteTable(dctx, &dynamodb.DeleteTableInput{TableName: aws.String(table)}); err != nil {
				t.Errorf("delete table %s: %v (delete it by hand)", table, err)
			}
		})
	} else if _, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)}); err != nil {
		t.Fatalf("HOTSWAP_AWS_TABLE=%s: %v", table, err)
	}

	// Every key of the run is under a random prefix: an existing table's data is never touched.
	prefix := "hsaws" + randomHex(4)
	t.Logf("table %s, region %s, key prefix %s", table, cfg.Region, prefix)

	backing := testutil.MustStartRedis(t)
	ref := testutil.MustStartRedis(t)
	mapping := writeMapping(t, dir, table, prefix, "strong")
	hs := startHotswap(t, bin, backing.Addr, mapping, cfg.Region, "")

	t.Run("differential", func(t *testing.T) {
		differential(t, prefix, testutil.MustDialRaw(t, ref.Addr), testutil.MustDialRaw(t, hs.listen))
	})
	t.Run("load/dynamodb", func(t *testing.T) {
		load(t, hs, prefix)
	})
	if ep := os.Getenv("HOTSWAP_AWS_DAX_ENDPOINT"); ep != "" {
		t.Run("load/dax", func(t *testing.T) {
			m := writeMapping(t, t.TempDir(), table, prefix, "eventual")
			dax := startHotswap(t, bin, backing.Addr, m, cfg.Region, ep)
			load(t, dax, prefix)
			t.Logf("DAX client: %s", dax.status(t, "dynamodb_client"))
		})
	}
	t.Run("cleanup", func(t *testing.T) {
		cleanup(t, hs, prefix)
	})
}

func buildHotswap(t *testing.T) string {
	t.Helper()
	bin, err := testutil.BuildHotswap(t.TempDir(), "aws-smoke")
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// writeMapping: the registry's families under prefix, served from DynamoDB (floor complete:
// no flags needed). read: strong or eventual (DAX).
func writeMapping(t *testing.T, dir, table, prefix, read string) string {
	t.Helper()
	p := filepath.Join(dir, "mapping-"+read+".yaml")
	body := fmt.Sprintf(`table: %[1]s
families:
  - name: user
    match: "%[2]s:user:{id}"
    type: hash
    pk: "%[2]s#user#{id}"
    sk: "profile"
    numeric: [age]
    floor: complete
    read: %[3]s
  - name: user-teams
    match: "%[2]s:user:{id}:teams"
    type: set
    pk: "%[2]s#user#{id}"
    sk: "teams"
    flag: hotswap.user.stage
    floor: complete
    read: %[3]s
  - name: user-email
    match: "%[2]s:email:{email}"
    type: string
    pk: "%[2]s#email#{email}"
    sk: "id"
    floor: complete
    read: %[3]s
`, table, prefix, read)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

type hotswap struct {
	listen, admin string
}

func startHotswap(t *testing.T, bin, redisAddr, mapping, region, dax string) *hotswap {
	t.Helper()
	h := &hotswap{
		listen: fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t)),
		admin:  fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t)),
	}
	args := []string{"serve", "--listen", h.listen, "--admin", h.admin, "--redis", "redis://" + redisAddr,
		"--mapping", mapping, "--region", region, "--log-level", "warn"}
	if dax != "" {
		args = append(args, "--dax-endpoint", dax)
	}
	cmd := exec.Command(bin, args...)
	var logs bytes.Buffer
	var mu sync.Mutex
	cmd.Stdout = &lockedWriter{&mu, &logs}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			mu.Lock()
			t.Logf("hotswap log:\n%s", logs.String())
			mu.Unlock()
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + h.admin + "/readyz")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return h
			}
			if time.Now().After(deadline) {
				t.Fatalf("hotswap not ready after 60s: %s", body)
			}
		} else if time.Now().After(deadline) {
			t.Fatalf("hotswap admin does not answer: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// status returns one field of hotswap's /status as JSON text.
func (h *hotswap) status(t *testing.T, field string) string {
	resp, err := http.Get("http://" + h.admin + "/status")
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	var m map[string]json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		return err.Error()
	}
	return string(m[field])
}

// differential sends each command to the reference redis-server and to hotswap (whose
// families live in DynamoDB) and compares the raw replies. The commands avoid what
// hotswap documents as different (field order of larger hashes, set member order of
// several members, random picks).
func differential(t *testing.T, p string, ref, hs *testutil.RawClient) {
	user, teams, email, other := p+":user:1", p+":user:1:teams", p+":email:ann@example.com", p+":plain"
	cmds := [][]string{
		{"HSET", user, "age", "37", "name", "Ann"},
		{"HGET", user, "name"},
		{"HGETALL", user},
		{"HINCRBY", user, "age", "1"},
		{"HMGET", user, "age", "nope", "name"},
		{"HEXISTS", user, "name"},
		{"HLEN", user},
		{"HDEL", user, "nope"},
		{"HSETNX", user, "name", "Bob"},
		{"HGET", p + ":user:404", "name"},
		{"HGETALL", p + ":user:404"},
		{"SADD", teams, "core"},
		{"SADD", teams, "core"},
		{"SISMEMBER", teams, "core"},
		{"SISMEMBER", teams, "ops"},
		{"SMEMBERS", teams},
		{"SCARD", teams},
		{"SET", email, "1"},
		{"GET", email},
		{"INCR", email},
		{"APPEND", email, "0"},
		{"STRLEN", email},
		{"EXPIRE", email, "1000"},
		{"TTL", email},
		{"PERSIST", email},
		{"TTL", email},
		{"EXISTS", user, teams, email, p + ":user:404"},
		{"TYPE", user},
		{"TYPE", teams},
		{"TYPE", email},
		{"MULTI"},
		{"HSET", user, "plan", "pro"},
		{"HGET", user, "plan"},
		{"EXEC"},
		{"SET", other, "passes through"},
		{"GET", other},
		{"HGET", user, "plan"},
		{"DEL", email, other},
		{"GET", email},
		{"EXISTS", email},
		{"DEL", user, teams},
		{"HGETALL", user},
		{"SMEMBERS", teams},
	}
	for _, c := range cmds {
		want, got := ref.Do(c...), hs.Do(c...)
		if !bytes.Equal(want, got) {
			t.Errorf("%s:\n redis   %q\n hotswap %q", strings.Join(c, " "), want, got)
		}
	}
}

// load runs a short user-registry workload through hotswap and reports it; it fails
// above 1% errors.
func load(t *testing.T, h *hotswap, p string) {
	d := 10 * time.Second
	if s := os.Getenv("HOTSWAP_AWS_LOAD_DURATION"); s != "" {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			t.Fatalf("HOTSWAP_AWS_LOAD_DURATION: %v", err)
		}
	}
	vus := 8
	if s := os.Getenv("HOTSWAP_AWS_LOAD_VUS"); s != "" {
		vus, _ = strconv.Atoi(s)
	}
	const users = 200
	c := redis.NewClient(&redis.Options{Addr: h.listen, Protocol: 2, PoolSize: vus, MaxRetries: -1, DisableIdentity: true})
	defer c.Close()
	ctx := context.Background()
	for id := 0; id < users; id++ {
		if err := c.HSet(ctx, fmt.Sprintf("%s:user:%d", p, id), "name", "user "+strconv.Itoa(id), "age", "30").Err(); err != nil {
			t.Fatalf("preload: %v", err)
		}
	}
	var (
		mu   sync.Mutex
		lat  []time.Duration
		errs int
		last error
		wg   sync.WaitGroup
	)
	deadline := time.Now().Add(d)
	start := time.Now()
	for v := 0; v < vus; v++ {
		wg.Add(1)
		go func(v int) {
			defer wg.Done()
			var mine []time.Duration
			myErrs := 0
			var myLast error
			for i := 0; time.Now().Before(deadline); i++ {
				k := fmt.Sprintf("%s:user:%d", p, (v*7919+i)%users)
				t0 := time.Now()
				var err error
				switch i % 10 {
				case 0:
					err = c.HSet(ctx, k, "last_seen", strconv.Itoa(i)).Err()
				case 1, 2:
					err = c.HGet(ctx, k, "name").Err()
				default:
					err = c.HGetAll(ctx, k).Err()
				}
				mine = append(mine, time.Since(t0))
				if err != nil && !errors.Is(err, redis.Nil) {
					myErrs++
					myLast = err
				}
			}
			mu.Lock()
			lat = append(lat, mine...)
			errs += myErrs
			if myLast != nil {
				last = myLast
			}
			mu.Unlock()
		}(v)
	}
	wg.Wait()
	el := time.Since(start)
	slices.Sort(lat)
	q := func(f float64) time.Duration { return lat[int(f*float64(len(lat)-1))] }
	t.Logf("%d commands in %v (%d connections): %.0f/s, p50 %v, p95 %v, p99 %v, errors %d (last: %v)",
		len(lat), el.Round(time.Millisecond), vus, float64(len(lat))/el.Seconds(), q(0.5), q(0.95), q(0.99), errs, last)
	if float64(errs) > 0.01*float64(len(lat)) {
		t.Errorf("error rate %.2f%% > 1%%", 100*float64(errs)/float64(len(lat)))
	}
}

// cleanup deletes the run's keys through hotswap (DynamoDB keeps tombstones for 7 days,
// then its TTL removes them).
func cleanup(t *testing.T, h *hotswap, p string) {
	c := redis.NewClient(&redis.Options{Addr: h.listen, Protocol: 2, DisableIdentity: true})
	defer c.Close()
	ctx := context.Background()
	for id := 0; id < 200; id++ {
		if err := c.Del(ctx, fmt.Sprintf("%s:user:%d", p, id), fmt.Sprintf("%s:user:%d:teams", p, id)).Err(); err != nil {
			t.Errorf("cleanup: %v", err)
			return
		}
	}
}
