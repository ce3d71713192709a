// Command userload plays a user-registry workload against any Redis endpoint (Redis itself,
// hotswap, a cloud endpoint) for a fixed time and reports throughput, latency percentiles and
// errors, failing like a load test's thresholds when they are crossed.
//
//	userload -addr 127.0.0.1:6380 -preload -users 2000   # write the users, then exit
//	userload -addr 127.0.0.1:6380 -duration 20s -vus 16 -max-p99 50ms -max-error-rate 0.001
//
// The workload, per command drawn: 45% HGETALL user:{id}, 20% HGET user:{id} name,
// 12% GET email:{address} (the email lookup), 8% SISMEMBER user:{id}:teams team-N,
// 5% SMEMBERS user:{id}:teams, 10% HSET user:{id} last_seen <ms> (a write). Users are drawn
// uniformly from the preloaded ones, so a read that finds nothing is a "miss": after a
// correct migration there are none. test/load/run.sh drives it (the families of
// deploy/examples/mapping.yaml: user, user-teams, user-email).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

type op struct {
	name   string
	weight int
}

var ops = []op{
	{"HGETALL", 45}, {"HGET", 20}, {"GET", 12}, {"SISMEMBER", 8}, {"SMEMBERS", 5}, {"HSET", 10},
}

const teams = 50

// Result is the summary, printed as one JSON line on stdout.
type Result struct {
	Label     string                    `json:"label"`
	Duration  float64                   `json:"duration_s"`
	VUs       int                       `json:"vus"`
	Ops       int                       `json:"ops"`
	RPS       float64                   `json:"rps"`
	P50       float64                   `json:"p50_ms"`
	P95       float64                   `json:"p95_ms"`
	P99       float64                   `json:"p99_ms"`
	Errors    int                       `json:"errors"`
	ErrorRate float64                   `json:"error_rate"`
	Misses    int                       `json:"misses"`
	FirstErr  string                    `json:"first_error,omitempty"`
	PerOp     map[string]map[string]any `json:"per_op"`
	Failed    []string                  `json:"thresholds_failed,omitempty"`
}

func main() {
	addr := flag.String("addr", "127.0.0.1:6379", "Redis endpoint host:port")
	users := flag.Int("users", 2000, "users in the registry (ids 0..users-1)")
	preload := flag.Bool("preload", false, "write the users (profile hash, email key, teams set) and exit")
	duration := flag.Duration("duration", 20*time.Second, "how long to run")
	vus := flag.Int("vus", 16, "virtual users: connections issuing commands back to back")
	label := flag.String("label", "", "label of this run in the summary")
	maxErr := flag.Float64("max-error-rate", 0.001, "threshold: fail when errors/ops exceed it")
	maxP99 := flag.Duration("max-p99", 0, "threshold: fail when p99 latency exceeds it (0: none)")
	maxMiss := flag.Int("max-misses", 0, "threshold: fail when more reads than this find no user (-1: none)")
	flag.Parse()

	c := redis.NewClient(&redis.Options{
		Addr: *addr, Protocol: 2, PoolSize: *vus + 4, MinIdleConns: *vus,
		MaxRetries: -1, ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second, DisableIdentity: true,
	})
	defer c.Close()
	ctx := context.Background()
	if err := c.Ping(ctx).Err(); err != nil {
		fatal("ping %s: %v", *addr, err)
	}
	if *preload {
		if err := load(ctx, c, *users); err != nil {
			fatal("preload: %v", err)
		}
		fmt.Fprintf(os.Stderr, "userload: preloaded %d users (%d keys) into %s\n", *users, 3**users, *addr)
		return
	}
	res := run(ctx, c, *users, *vus, *duration)
	res.Label = *label
	if res.ErrorRate > *maxErr {
		res.Failed = append(res.Failed, fmt.Sprintf("error rate %.4f > %.4f", res.ErrorRate, *maxErr))
	}
	if *maxP99 > 0 && res.P99 > float64(*maxP99)/float64(time.Millisecond) {
		res.Failed = append(res.Failed, fmt.Sprintf("p99 %.2f ms > %v", res.P99, *maxP99))
	}
	if *maxMiss >= 0 && res.Misses > *maxMiss {
		res.Failed = append(res.Failed, fmt.Sprintf("misses %d > %d", res.Misses, *maxMiss))
	}
	b, _ := json.Marshal(res)
	fmt.Println(string(b))
	fmt.Fprintf(os.Stderr, "userload %s: %d ops in %.1fs: %.0f/s, p50 %.2f ms, p95 %.2f ms, p99 %.2f ms, errors %d (%s), misses %d\n",
		*label, res.Ops, res.Duration, res.RPS, res.P50, res.P95, res.P99, res.Errors, res.FirstErr, res.Misses)
	if len(res.Failed) > 0 {
		fmt.Fprintf(os.Stderr, "userload %s: thresholds crossed: %v\n", *label, res.Failed)
		os.Exit(1)
	}
}

func fatal(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "userload: "+format+"\n", args...)
	os.Exit(2)
}

func email(id int) string { return fmt.Sprintf("email:user%d@example.com", id) }

func load(ctx context.Context, c *redis.Client, users int) error {
	const batch = 200
	for lo := 0; lo < users; lo += batch {
		p := c.Pipeline()
		for id := lo; id < min(lo+batch, users); id++ {
			k := "user:" + strconv.Itoa(id)
			p.HSet(ctx, k, "name", fmt.Sprintf("User %d", id), "email", email(id)[len("email:"):],
				"age", strconv.Itoa(20+id%50), "created", "2026-01-01T00:00:00Z", "plan", []string{"free", "pro", "team"}[id%3])
			p.Set(ctx, email(id), strconv.Itoa(id), 0)
			p.SAdd(ctx, k+":teams", "team-"+strconv.Itoa(id%teams), "team-"+strconv.Itoa(id*7%teams))
		}
		if _, err := p.Exec(ctx); err != nil {
			return err
		}
	}
	return nil
}

type sample struct {
	op  int
	dur time.Duration
}

func run(ctx context.Context, c *redis.Client, users, vus int, d time.Duration) Result {
	total := 0
	for _, o := range ops {
		total += o.weight
	}
	var (
		mu       sync.Mutex
		all      []sample
		errs     int
		misses   int
		firstErr string
		wg       sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(d)
	for v := 0; v < vus; v++ {
		wg.Add(1)
		go func(seed uint64) {
			defer wg.Done()
			r := rand.New(rand.NewPCG(seed, seed*31+7))
			var mine []sample
			myErrs, myMisses, myFirst := 0, 0, ""
			for time.Now().Before(deadline) {
				n := r.IntN(total)
				i := 0
				for n >= ops[i].weight {
					n -= ops[i].weight
					i++
				}
				id := r.IntN(users)
				k := "user:" + strconv.Itoa(id)
				t0 := time.Now()
				var err error
				miss := false
				switch ops[i].name {
				case "HGETALL":
					var m map[string]string
					m, err = c.HGetAll(ctx, k).Result()
					miss = err == nil && len(m) == 0
				case "HGET":
					err = c.HGet(ctx, k, "name").Err()
				case "GET":
					err = c.Get(ctx, email(id)).Err()
				case "SISMEMBER":
					var ok bool
					ok, err = c.SIsMember(ctx, k+":teams", "team-"+strconv.Itoa(id%teams)).Result()
					miss = err == nil && !ok
				case "SMEMBERS":
					var m []string
					m, err = c.SMembers(ctx, k+":teams").Result()
					miss = err == nil && len(m) == 0
				case "HSET":
					err = c.HSet(ctx, k, "last_seen", strconv.FormatInt(time.Now().UnixMilli(), 10)).Err()
				}
				dur := time.Since(t0)
				if errors.Is(err, redis.Nil) {
					err, miss = nil, true
				}
				if err != nil {
					myErrs++
					if myFirst == "" {
						myFirst = ops[i].name + ": " + err.Error()
					}
				}
				if miss {
					myMisses++
				}
				mine = append(mine, sample{i, dur})
			}
			mu.Lock()
			all = append(all, mine...)
			errs += myErrs
			misses += myMisses
			if firstErr == "" {
				firstErr = myFirst
			}
			mu.Unlock()
		}(uint64(v + 1))
	}
	wg.Wait()
	elapsed := time.Since(start)

	res := Result{Duration: elapsed.Seconds(), VUs: vus, Ops: len(all), Errors: errs, Misses: misses, FirstErr: firstErr, PerOp: map[string]map[string]any{}}
	if len(all) == 0 {
		return res
	}
	res.RPS = float64(len(all)) / elapsed.Seconds()
	res.ErrorRate = float64(errs) / float64(len(all))
	durs := make([]time.Duration, len(all))
	per := make([][]time.Duration, len(ops))
	for i, s := range all {
		durs[i] = s.dur
		per[s.op] = append(per[s.op], s.dur)
	}
	res.P50, res.P95, res.P99 = pct(durs, 0.50), pct(durs, 0.95), pct(durs, 0.99)
	for i, o := range ops {
		if len(per[i]) > 0 {
			res.PerOp[o.name] = map[string]any{"ops": len(per[i]), "p50_ms": pct(per[i], 0.5), "p99_ms": pct(per[i], 0.99)}
		}
	}
	return res
}

// pct sorts d and returns its q-quantile in milliseconds.
func pct(d []time.Duration, q float64) float64 {
	slices.Sort(d)
	i := int(q*float64(len(d)-1) + 0.5)
	return float64(d[i]) / float64(time.Millisecond)
}
