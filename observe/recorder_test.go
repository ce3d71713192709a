package observe

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.opentelemetry.io/otel/attribute"

	"hotswap/dual"
	"hotswap/flags"
	"hotswap/proxy"
	"hotswap/proxy/command"
	"hotswap/translate"
	"hotswap/translate/dynamo"
)

func TestHistQuantile(t *testing.T) {
	var h hist
	for i := 0; i < 100; i++ {
		h.observe(time.Duration(i+1) * 10 * time.Microsecond) // 10µs .. 1ms
	}
	s := h.snap()
	if s.count() != 100 {
		t.Fatalf("count %d", s.count())
	}
	if p50 := s.quantile(0.5); p50 < 400*time.Microsecond || p50 > 600*time.Microsecond {
		t.Errorf("p50 %v", p50)
	}
	if p99 := s.quantile(0.99); p99 < 900*time.Microsecond || p99 > time.Millisecond {
		t.Errorf("p99 %v", p99)
	}
	if (histSnap{}).quantile(0.5) != 0 {
		t.Error("empty quantile")
	}
}

// Without any backend: the hooks move the counters and /metrics parses.
func TestMetricsParse(t *testing.T) {
	ctx := context.Background()
	ob, err := New(ctx, Options{Env: func(string) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Shutdown(ctx)
	fam := &translate.Family{Name: "user", Floor: translate.StageShadow}
	if err := ob.Register(Sources{Families: []*translate.Family{fam}}); err != nil {
		t.Fatal(err)
	}
	h := ob.Proxy()
	get := command.Lookup([][]byte{[]byte("GET")})
	h.Command(get, fam, translate.StageShadow, false, 100*time.Microsecond)
	h.Command(get, nil, translate.StageOff, true, 2*time.Millisecond)
	h.Redis(get, 1, false, 50*time.Microsecond)
	ob.Calls().Call("dynamodb", "GetItem", 3*time.Millisecond, false)
	w := httptest.NewRecorder()
	ob.MetricsHandler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	rec := w.Body
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(strings.NewReader(rec.String()))
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, rec)
	}
	cmds := mfs["hotswap_commands_total"]
	if cmds == nil || len(cmds.Metric) != 2 {
		t.Fatalf("hotswap_commands_total: %v\n%s", cmds, rec)
	}
	for _, name := range []string{"hotswap_command_duration_seconds", "hotswap_backend_duration_seconds"} {
		if mfs[name] == nil {
			t.Errorf("%s missing\n%s", name, rec)
		}
	}
	if !strings.Contains(rec.String(), `hotswap_family="user"`) || !strings.Contains(rec.String(), `db_operation_name="GetItem"`) {
		t.Errorf("labels missing:\n%s", rec)
	}
}

// The hot path: one command with a family, as the proxy records it.
func BenchmarkCommand(b *testing.B) {
	ctx := context.Background()
	ob, err := New(ctx, Options{Env: func(string) string { return "" }})
	if err != nil {
		b.Fatal(err)
	}
	defer ob.Shutdown(ctx)
	fam := &translate.Family{Name: "user"}
	if err := ob.Register(Sources{Families: []*translate.Family{fam}}); err != nil {
		b.Fatal(err)
	}
	h := ob.Proxy()
	get := command.Lookup([][]byte{[]byte("GET")})
	b.ReportAllocs()
	for b.Loop() {
		h.Command(get, fam, translate.StageLive, false, 300*time.Microsecond)
		h.Redis(get, 1, false, 200*time.Microsecond)
	}
}

// Every metric the Grafana dashboard (deploy/grafana/hotswap.json) queries is one
// hotswap exports, by its Prometheus name.
func TestDashboardNames(t *testing.T) {
	b, err := os.ReadFile("../deploy/grafana/hotswap.json")
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	// Metric names: followed by a selector, a range or a label_values argument list.
	labels := map[string]bool{}
	for _, k := range []attribute.Key{AttrFamily, AttrStage, AttrOutcome, AttrBackend, AttrResult, AttrKind, AttrState, AttrReason} {
		labels[strings.ReplaceAll(string(k), ".", "_")] = true
	}
	for _, m := range regexp.MustCompile(`(hotswap_[a-z_]+)[{\[,]`).FindAllStringSubmatch(string(b), -1) {
		if labels[m[1]] {
			continue
		}
		used[strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(m[1], "_bucket"), "_count"), "_sum")] = true
	}
	if len(used) < 20 {
		t.Fatalf("found only %d metric names in the dashboard: %v", len(used), used)
	}
	ctx := context.Background()
	ob, err := New(ctx, Options{Env: func(string) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Shutdown(ctx)
	fam := &translate.Family{Name: "user"}
	if err := ob.Register(Sources{
		Families: []*translate.Family{fam},
		Proxy:    func() proxy.Stats { return proxy.Stats{} },
		Engine:   func() translate.Stats { return translate.Stats{} },
		Client:   func() dynamo.Stats { return dynamo.Stats{DAX: true} },
		Sync:     func() dual.Stats { return dual.Stats{} },
		Shadow:   func() dual.ShadowStats { return dual.ShadowStats{ByFamily: map[string]dual.ShadowStats{"user": {}}} },
		Flags:    flags.NewStatic(nil),
	}); err != nil {
		t.Fatal(err)
	}
	get := command.Lookup([][]byte{[]byte("GET")})
	ob.Proxy().Command(get, fam, translate.StageLive, false, time.Millisecond)
	ob.Proxy().Redis(get, 1, false, time.Millisecond)
	w := httptest.NewRecorder()
	ob.MetricsHandler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(strings.NewReader(w.Body.String()))
	if err != nil {
		t.Fatal(err)
	}
	for name := range used {
		if mfs[name] == nil {
			t.Errorf("dashboard queries %s, which /metrics does not have", name)
		}
	}
	if t.Failed() {
		var have []string
		for n := range mfs {
			have = append(have, n)
		}
		t.Logf("have: %v", have)
	}
}
