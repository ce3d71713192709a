package compat

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// In live and rampdown DynamoDB is authoritative: reads come from it, writes go to it
// and then, whole, to Redis, which stays a complete copy for a rollback.
func TestLive_DynamoAuthoritativeRedisCopy(t *testing.T) {
	d := mustStartStages(t, "live", "rampdown", "live")
	for _, c := range [][]string{
		{"HSET", "user:1", "name", "Ann", "age", "40"},
		{"HSET", "user:1", "age", "41"},
		{"HINCRBY", "user:1", "logins", "3"},
		{"SADD", "teams:1", "red", "blue"},
		{"SREM", "teams:1", "blue"},
		{"SET", "email:ann@x.io", "1", "EX", "1000"},
		{"MSET", "email:a@x.io", "2", "email:b@x.io", "3"},
		{"DEL", "email:a@x.io"},
	} {
		if got := string(d.hs.Do(c...)); strings.HasPrefix(got, "-") {
			t.Fatalf("%q: %q", c, got)
		}
	}
	d.hs.Do("MULTI") // one key: dynalite has no TransactWriteItems
	d.hs.Do("HSET", "user:2", "name", "Tx")
	d.hs.Do("HSET", "user:2", "age", "9")
	if got := string(d.hs.Do("EXEC")); got != "*2\r\n:1\r\n:1\r\n" {
		t.Fatalf("EXEC: %q", got)
	}
	d.eventuallyAgree(t, "user:1", "user:2", "teams:1", "email:ann@x.io", "email:a@x.io", "email:b@x.io")
	if got := d.redisState(t, "user:1"); got != "age=41 logins=3 name=Ann" {
		t.Errorf("Redis copy: %q", got)
	}
	if ttl := string(d.back.Do("TTL", "email:ann@x.io")); !strings.HasPrefix(ttl, ":99") && !strings.HasPrefix(ttl, ":1000") {
		t.Errorf("expiry not copied to Redis: TTL %q", ttl)
	}
	eventuallyJournal(t, d, ":0\r\n")

	// Reads come from DynamoDB: a value written around hotswap into Redis is not seen.
	d.back.Do("HSET", "user:1", "name", "Mallory")
	if got := string(d.hs.Do("HGET", "user:1", "name")); got != "$3\r\nAnn\r\n" {
		t.Errorf("HGET in live: %q, want DynamoDB's Ann", got)
	}
}

// Redis down while DynamoDB is authoritative: clients see no error; once Redis is back
// the repairer copies what was written meanwhile.
func TestLive_RedisDownThenRepaired(t *testing.T) {
	d := mustStartStages(t, "live", "live", "live")
	d.hs.Do("HSET", "user:0", "seed", "1")
	d.eventuallyAgree(t, "user:0")
	d.redis.Pause()
	for i := 0; i < 20; i++ {
		if got := string(d.hs.Do("HSET", fmt.Sprintf("user:%d", i), "n", fmt.Sprint(i))); strings.HasPrefix(got, "-") {
			d.redis.Resume()
			t.Fatalf("HSET with Redis down: %q", got)
		}
	}
	d.redis.Resume()
	keys := make([]string, 20)
	for i := range keys {
		keys[i] = fmt.Sprintf("user:%d", i)
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		_ = d.syncer.RepairOnce(context.Background())
		agree := true
		for _, k := range keys {
			if d.redisState(t, k) != d.item(t, k) {
				agree = false
			}
		}
		if agree {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	d.eventuallyAgree(t, keys...)
}
