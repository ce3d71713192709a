package main_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"hotswap/internal/testutil"
	"hotswap/translate"
	"hotswap/translate/storetest"
)

// SIGTERM under load, a family in dualwrite: every command either gets its real reply
// or a connection error (never an error reply), every acknowledged write is in Redis,
// hotswap exits 0 within its shutdown timeout, and the copies it had not made are left
// in the journal, which the next instance drains: DynamoDB then agrees with Redis.
func TestServe_SIGTERMUnderLoad(t *testing.T) {
	endpoint := storetest.MustDynalite(t)
	raw := storetest.MustClient(t, endpoint)
	table := storetest.TableName(t)
	storetest.DeleteTableAtCleanup(t, raw, table)
	mappingText := fmt.Sprintf(`table: %s
families:
  - name: user
    match: "user:{id}"
    type: hash
    pk: "user#{id}"
    sk: "profile"
    floor: dualwrite
`, table)
	mapping := filepath.Join(t.TempDir(), "mapping.yaml")
	if err := os.WriteFile(mapping, []byte(mappingText), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, code := runHotswap(t, nil, "table", "create", "--mapping", mapping, "--dynamodb-endpoint", endpoint); code != 0 {
		t.Fatalf("table create: exit %d: %s", code, out)
	}
	backend := testutil.MustStartRedis(t)
	listen := addr(t)
	const grace = 5 * time.Second
	p := mustServe(t, nil, "--listen", listen, "--admin", "", "--redis", "redis://"+backend.Addr,
		"--mapping", mapping, "--dynamodb-endpoint", endpoint, "--shutdown-timeout", grace.String())
	waitTCP(t, listen)

	const keys, writers = 100, 16
	var acked [keys]atomic.Int64
	var errReplies atomic.Int64
	var firstErrReply atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			c := redis.NewClient(&redis.Options{Addr: listen, MaxRetries: -1, PoolSize: 1, DisableIdentity: true, Protocol: 2})
			defer c.Close()
			ctx := context.Background()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				k := (w*7 + i) % keys
				_, err := c.HIncrBy(ctx, "user:"+strconv.Itoa(k), "n", 1).Result()
				var re redis.Error
				switch {
				case err == nil:
					acked[k].Add(1)
				case errors.As(err, &re):
					errReplies.Add(1)
					firstErrReply.CompareAndSwap(nil, err.Error())
				default:
					// A connection error: hotswap is going away. Never acknowledged.
					time.Sleep(10 * time.Millisecond)
				}
			}
		})
	}
	time.Sleep(1500 * time.Millisecond)
	sent := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
		p.done <- err
	case <-time.After(grace + 3*time.Second):
		t.Fatalf("hotswap did not exit within %v of SIGTERM", grace+3*time.Second)
	}
	took := time.Since(sent)
	close(stop)
	wg.Wait()
	if n := errReplies.Load(); n != 0 {
		t.Fatalf("%d commands got an error reply during the shutdown, e.g. %v", n, firstErrReply.Load())
	}
	rc := redis.NewClient(&redis.Options{Addr: backend.Addr, Protocol: 2, DisableIdentity: true})
	defer rc.Close()
	ctx := context.Background()
	total := int64(0)
	for k := range keys {
		got, _ := rc.HGet(ctx, "user:"+strconv.Itoa(k), "n").Int64()
		// A command whose reply was lost in the shutdown may have applied: at least
		// every acknowledged one.
		if want := acked[k].Load(); got < want {
			t.Fatalf("user:%d n = %d in Redis, below the %d acknowledged increments", k, got, want)
		}
		total += acked[k].Load()
	}
	journal, _ := rc.HLen(ctx, "hotswap:journal").Result()
	t.Logf("exit %v after SIGTERM; %d increments acknowledged; %d journal entries left for the next instance", took.Round(time.Millisecond), total, journal)

	// The next instance drains what was left: DynamoDB agrees with Redis.
	p2 := mustServe(t, nil, "--listen", addr(t), "--admin", "", "--redis", "redis://"+backend.Addr,
		"--mapping", mapping, "--dynamodb-endpoint", endpoint)
	_ = p2
	m, err := translate.ParseMapping([]byte(mappingText), "mapping.yaml")
	if err != nil {
		t.Fatal(err)
	}
	eng, err := translate.NewEngine(translate.Options{Mapping: m, DB: raw})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		diff := ""
		for k := range keys {
			key := "user:" + strconv.Itoa(k)
			r, _, _ := m.Route([]byte(key))
			v, _, err := eng.ReadState(ctx, &r, []byte(key))
			inRedis, _ := rc.HGet(ctx, key, "n").Result()
			inDynamo := ""
			if err == nil && v != nil {
				inDynamo = string(v.Hash["n"])
			}
			if inDynamo != inRedis {
				diff = fmt.Sprintf("%s: redis %q, dynamodb %q (err %v)", key, inRedis, inDynamo, err)
				break
			}
		}
		if diff == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("DynamoDB does not agree with Redis 30s after the restart: %s", diff)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
