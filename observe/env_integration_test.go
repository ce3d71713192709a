//go:build integration

package observe_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"hotswap/admin"
	"hotswap/dual"
	"hotswap/internal/testutil"
	"hotswap/observe"
	"hotswap/proxy"
	"hotswap/proxy/upstream"
	"hotswap/translate"
)

// obsEnv is hotswap with one string family at each of five stages (their floors),
// over a real redis-server and dynalite, with the observer wired as `hotswap serve`
// wires it and its handlers on an admin listener.
type obsEnv struct {
	hs     *testutil.RawClient
	admin  string // host:port
	obs    *observe.Observer
	syncer *dual.Syncer
	shadow *dual.Shadow
}

// stageFamilies: family name, key prefix, floor.
var stageFamilies = []struct{ name, prefix, stage string }{
	{"f-off", "o", "off"},
	{"f-dual", "d", "dualwrite"},
	{"f-shadow", "s", "shadow"},
	{"f-live", "l", "live"},
	{"f-complete", "c", "complete"},
}

func mustStartObs(t *testing.T) *obsEnv {
	t.Helper()
	ctx := context.Background()
	ep := testutil.DynamoEndpoint(t, testutil.Dynalite)
	db := testutil.MustDynamoClient(t, ep)
	table := testutil.MustCreateTable(t, db)
	var y strings.Builder
	fmt.Fprintf(&y, "table: %s\nfamilies:\n", table)
	for _, f := range stageFamilies {
		fmt.Fprintf(&y, "  - name: %s\n    match: \"%s:{id}\"\n    type: string\n    pk: \"%s#{id}\"\n    sk: \"v\"\n    floor: %s\n", f.name, f.prefix, f.prefix, f.stage)
	}
	m, err := translate.ParseMapping([]byte(y.String()), "obs.yaml")
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	obs, err := observe.New(ctx, observe.Options{Version: "test", Instance: "obs-test", Logger: log, SampleEvery: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = obs.Shutdown(context.Background()) })
	eng, err := translate.NewEngine(translate.Options{Mapping: m, DB: db, Timeout: 2 * time.Second, Calls: obs.Calls()})
	if err != nil {
		t.Fatal(err)
	}
	back := testutil.MustStartRedis(t)
	jpool := upstream.NewPool(upstream.Options{Addr: back.Addr, ReadTimeout: 5 * time.Second})
	t.Cleanup(jpool.Close)
	sy := dual.New(dual.Options{Engine: eng, Redis: dual.RedisFunc(jpool.Do), RepairInterval: -1, RepairAge: time.Millisecond}) // the tests drive repairs (RepairOnce)
	sy.Open(ctx)
	t.Cleanup(func() { _ = sy.Close(context.Background()) })
	sh := dual.NewShadow(dual.ShadowOptions{Engine: eng, Redis: dual.RedisFunc(jpool.Do), Syncer: sy, RecheckDelay: 20 * time.Millisecond})

	var srv *proxy.Server
	var adm *admin.Server
	if err := obs.Register(observe.Sources{
		Families: m.Families,
		Proxy:    func() proxy.Stats { return srv.Stats() },
		Engine:   eng.Stats,
		Sync:     sy.Stats,
		Shadow:   sh.Stats,
		Status: func() any {
			return map[string]any{"version": "test", "fleet": []map[string]any{{"id": "obs-test", "revision": "r1"}}}
		},
		Ready: func(ctx context.Context) error { return adm.Ready(ctx) },
	}); err != nil {
		t.Fatal(err)
	}
	obs.Start(ctx)
	srv = proxy.New(proxy.Config{
		Upstream: upstream.Options{Addr: back.Addr, ReadTimeout: 5 * time.Second},
		Logger:   log,
		Engine:   eng,
		Syncer:   sy,
		Shadow:   sh,
		Observer: obs.Proxy(),
	})
	if err := srv.Open(ctx, "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close(context.Background()) })
	adm = admin.New(admin.Checks{
		Ready:   func(ctx context.Context) error { return srv.Pool().Ping(ctx) },
		Status:  func() any { return map[string]any{"version": "test"} },
		Metrics: obs.MetricsHandler(),
		Page:    obs.PageHandler(time.Second),
		Summary: obs.SummaryHandler(),
	}, log)
	if err := adm.Open("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = adm.Close(context.Background()) })
	return &obsEnv{hs: testutil.MustDialRaw(t, srv.Addr().String()), admin: adm.Addr().String(), obs: obs, syncer: sy, shadow: sh}
}

// traffic sends, for every family, n SETs and n GETs, plus commands on plain keys
// and one error.
func (e *obsEnv) traffic(t *testing.T, n int) {
	t.Helper()
	for _, f := range stageFamilies {
		for i := 0; i < n; i++ {
			key := fmt.Sprintf("%s:%d", f.prefix, i)
			if got := string(e.hs.Do("SET", key, fmt.Sprint("v", i))); got != "+OK\r\n" {
				t.Fatalf("SET %s (%s): %q", key, f.stage, got)
			}
			if got := string(e.hs.Do("GET", key)); !strings.HasPrefix(got, "$") {
				t.Fatalf("GET %s (%s): %q", key, f.stage, got)
			}
		}
	}
	for i := 0; i < n; i++ {
		e.hs.Do("SET", fmt.Sprint("plain:", i), "x")
	}
	if got := string(e.hs.Do("HGET", "plain:0", "f")); !strings.HasPrefix(got, "-WRONGTYPE") {
		t.Fatalf("HGET on a string: %q", got)
	}
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}
