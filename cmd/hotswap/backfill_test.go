package main_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"hotswap/internal/testutil"
)

// backfillEnv is a Redis holding n keys of the user family and an empty table.
type backfillEnv struct {
	redis   *testutil.Redis
	rc      *redis.Client
	mapping string
	ep      string
}

func newBackfillEnv(t *testing.T, n int) *backfillEnv {
	t.Helper()
	ep := testutil.DynamoEndpoint(t, testutil.Dynalite)
	db := testutil.MustDynamoClient(t, ep)
	table := testutil.MustCreateTable(t, db)
	mapping := filepath.Join(t.TempDir(), "mapping.yaml")
	text := fmt.Sprintf("table: %s\nfamilies:\n  - name: user\n    match: \"user:{id}\"\n    type: hash\n    pk: \"user#{id}\"\n    sk: \"profile\"\n    floor: dualwrite\n", table)
	if err := os.WriteFile(mapping, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	r := testutil.MustStartRedis(t)
	rc := redis.NewClient(&redis.Options{Addr: r.Addr, Protocol: 2, DisableIdentity: true})
	t.Cleanup(func() { rc.Close() })
	ctx := context.Background()
	for start := 0; start < n; start += 2000 {
		p := rc.Pipeline()
		for i := start; i < min(n, start+2000); i++ {
			p.HSet(ctx, "user:"+strconv.Itoa(i), "name", "n"+strconv.Itoa(i), "age", strconv.Itoa(i%90))
		}
		if _, err := p.Exec(ctx); err != nil {
			t.Fatal(err)
		}
	}
	return &backfillEnv{redis: r, rc: rc, mapping: mapping, ep: ep}
}

func (e *backfillEnv) args(cmd string, extra ...string) []string {
	return append([]string{cmd, "--mapping", e.mapping, "--family", "user", "--redis", "redis://" + e.redis.Addr,
		"--dynamodb-endpoint", e.ep, "--log-format", "text"}, extra...)
}

// wholeRequests is an HTTP proxy to endpoint that forwards only requests it has read
// whole, and finishes them even when the client is gone: dynalite crashes (an uncaught
// ECONNRESET) when a client dies in the middle of a request, as a SIGKILLed backfill
// does.
func wholeRequests(t *testing.T, endpoint string) string {
	t.Helper()
	client := &http.Client{Timeout: 30 * time.Second}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		req, err := http.NewRequestWithContext(context.WithoutCancel(r.Context()), r.Method, endpoint+r.URL.RequestURI(), bytes.NewReader(body))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		req.Header = r.Header.Clone()
		resp, err := client.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// The backfill process is SIGKILLed at random points three times and run again with
// --resume each time: in the end every key is copied (verify finds no difference) and
// the keys read in all (one clock value per page read) stay within twice one walk.
func TestBackfillKillResume(t *testing.T) {
	n := 20000
	if testing.Short() {
		n = 6000
	}
	e := newBackfillEnv(t, n)
	e.ep = wholeRequests(t, e.ep)
	const scanCount = 200
	// The pages of one walk: SCAN pages that hold keys.
	pages := 0
	for cursor := uint64(0); ; {
		keys, next, err := e.rc.Scan(context.Background(), cursor, "user:*", scanCount).Result()
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) > 0 {
			pages++
		}
		if cursor = next; cursor == 0 {
			break
		}
	}
	rate := strconv.Itoa(n / 4) // about four seconds a walk
	flags := []string{"--force", "--rate", rate, "--scan-count", strconv.Itoa(scanCount), "--lease-ttl", "2s",
		"--checkpoint-interval", "300ms", "--progress-interval", "500ms", "--unmigratable", filepath.Join(t.TempDir(), "unmigratable.txt")}
	for k := 0; k < 3; k++ {
		args := e.args("backfill", flags...)
		if k > 0 {
			args = append(args, "--resume")
		}
		cmd := exec.Command(binary, args...)
		stderr, err := cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		started := make(chan struct{})
		go func() {
			sc := bufio.NewScanner(stderr)
			once := false
			for sc.Scan() {
				if !once && strings.Contains(sc.Text(), "backfill started") {
					once = true
					close(started)
				}
			}
		}()
		select {
		case <-started:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			t.Fatal("the backfill did not start within 30s")
		}
		time.Sleep(time.Duration(500+rand.IntN(2000)) * time.Millisecond)
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		clock, _ := e.rc.Get(context.Background(), "hotswap:clock").Int()
		t.Logf("killed run %d; pages read so far: %d", k+1, clock)
	}
	out, code := runHotswap(t, nil, e.args("backfill", append(flags, "--resume", "--rate", "0")...)...)
	if code != 0 || !strings.Contains(out, "resumed from the checkpoint") {
		t.Fatalf("final backfill --resume: exit %d\n%s", code, out)
	}
	clock, _ := e.rc.Get(context.Background(), "hotswap:clock").Int()
	t.Logf("pages read in all: %d; one walk: %d pages", clock, pages)
	if clock > 2*pages+20 {
		t.Errorf("the four runs read %d pages; one walk is %d", clock, pages)
	}
	out, code = runHotswap(t, nil, e.args("verify")...)
	if code != 0 || !strings.Contains(out, fmt.Sprintf("%d keys compared (%d in Redis, %d in DynamoDB), 0 differences", n, n, n)) {
		t.Fatalf("verify: exit %d\n%s", code, out)
	}
	t.Log(lastLines(out, 3))
}

// Without --force a backfill asks the fleet registry, which has no live instance here:
// it refuses, naming why, and exits 1; usage errors exit 2.
func TestBackfillCLIRefusals(t *testing.T) {
	e := newBackfillEnv(t, 10)
	out, code := runHotswap(t, nil, e.args("backfill")...)
	if code != 1 || !strings.Contains(out, "no live hotswap instance") {
		t.Fatalf("backfill without a fleet: exit %d\n%s", code, out)
	}
	out, code = runHotswap(t, nil, "backfill", "--mapping", e.mapping)
	if code != 2 || !strings.Contains(out, "--family is required") {
		t.Fatalf("backfill without --family: exit %d\n%s", code, out)
	}
	out, code = runHotswap(t, nil, e.args("verify", "--family", "nope")...)
	if code != 2 || !strings.Contains(out, `no family "nope"`) {
		t.Fatalf("verify of an unknown family: exit %d\n%s", code, out)
	}
	// Before any copy, verify finds every key missing and exits 1; --repair copies them.
	out, code = runHotswap(t, nil, e.args("verify")...)
	if code != 1 || !strings.Contains(out, "missing 10") {
		t.Fatalf("verify before the backfill: exit %d\n%s", code, out)
	}
	out, code = runHotswap(t, nil, e.args("verify", "--repair")...)
	if code != 0 || !strings.Contains(out, "10 repaired, 0 failed") {
		t.Fatalf("verify --repair: exit %d\n%s", code, out)
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
