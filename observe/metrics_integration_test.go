//go:build integration

package observe_test

import (
	"context"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape parses /metrics with Prometheus' own text parser.
func scrape(t *testing.T, admin string) map[string]*dto.MetricFamily {
	t.Helper()
	code, body := httpGet(t, "http://"+admin+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d %s", code, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v\n%s", err, body)
	}
	return mfs
}

// value sums the samples of a counter, gauge or histogram (its count) whose labels
// include want.
func value(mfs map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	mf := mfs[name]
	if mf == nil {
		return 0
	}
	var sum float64
next:
	for _, m := range mf.Metric {
		have := map[string]string{}
		for _, l := range m.Label {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Histogram != nil:
			sum += float64(m.Histogram.GetSampleCount())
		}
	}
	return sum
}

func TestMetrics_MoveWithTraffic(t *testing.T) {
	e := mustStartObs(t)
	before := scrape(t, e.admin)
	if v := value(before, "hotswap_commands_total", nil); v != 0 {
		t.Fatalf("commands before any traffic: %v", v)
	}
	const n = 5
	e.traffic(t, n)

	// Shadow comparisons, copies and the repairer's pass run off the reply path.
	var mfs map[string]*dto.MetricFamily
	deadline := time.Now().Add(15 * time.Second)
	for {
		_ = e.syncer.RepairOnce(context.Background()) // measures the journal
		mfs = scrape(t, e.admin)
		shadowDone := value(mfs, "hotswap_shadow_comparisons_total", map[string]string{"hotswap_family": "f-shadow"}) >= n &&
			value(mfs, "hotswap_shadow_comparisons_total", map[string]string{"hotswap_family": "f-live"}) >= n
		copied := value(mfs, "hotswap_sync_copies_total", map[string]string{"hotswap_result": "applied"}) >= 2*n
		if shadowDone && copied || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, f := range stageFamilies {
		for _, cmd := range []string{"SET", "GET"} {
			want := map[string]string{"hotswap_family": f.name, "hotswap_stage": f.stage, "db_operation_name": cmd, "hotswap_outcome": "ok"}
			if got := value(mfs, "hotswap_commands_total", want); got != n {
				t.Errorf("hotswap_commands_total%v = %v, want %d", want, got, n)
			}
		}
	}
	plain := map[string]string{"hotswap_family": "", "hotswap_stage": "off", "db_operation_name": "SET", "hotswap_outcome": "ok"}
	if got := value(mfs, "hotswap_commands_total", plain); got != n {
		t.Errorf("hotswap_commands_total%v = %v, want %d", plain, got, n)
	}
	if got := value(mfs, "hotswap_commands_total", map[string]string{"db_operation_name": "HGET", "hotswap_outcome": "error"}); got != 1 {
		t.Errorf("HGET errors = %v, want 1", got)
	}
	if got := value(mfs, "hotswap_command_duration_seconds", map[string]string{"db_operation_name": "SET"}); got != 6*n {
		t.Errorf("SET latency observations = %v, want %d", got, 6*n)
	}
	for _, b := range []string{"redis", "dynamodb"} {
		if got := value(mfs, "hotswap_backend_duration_seconds", map[string]string{"hotswap_backend": b}); got == 0 {
			t.Errorf("no %s backend latency observed", b)
		}
	}
	if got := value(mfs, "hotswap_backend_duration_seconds", map[string]string{"hotswap_backend": "dynamodb", "db_system_name": "aws.dynamodb", "db_operation_name": "GetItem"}); got == 0 {
		t.Errorf("no DynamoDB GetItem latency observed")
	}
	for _, fam := range []string{"f-shadow", "f-live"} {
		match := value(mfs, "hotswap_shadow_comparisons_total", map[string]string{"hotswap_family": fam, "hotswap_result": "match"})
		mismatch := value(mfs, "hotswap_shadow_comparisons_total", map[string]string{"hotswap_family": fam, "hotswap_result": "mismatch"})
		if match+mismatch < n {
			t.Errorf("%s shadow comparisons: %v match + %v mismatch, want %d", fam, match, mismatch, n)
		}
	}
	if got := value(mfs, "hotswap_shadow_comparisons_total", map[string]string{"hotswap_family": "f-dual"}); got != 0 {
		t.Errorf("dualwrite family compared: %v", got)
	}
	if got := value(mfs, "hotswap_sync_copies_total", map[string]string{"hotswap_result": "applied"}); got < 2*n {
		t.Errorf("copies applied: %v, want >= %d", got, 2*n)
	}
	if mfs["hotswap_sync_journal_depth"] == nil || mfs["hotswap_sync_journal_oldest_age_seconds"] == nil || mfs["hotswap_sync_secondary_write_failures_total"] == nil {
		t.Errorf("journal and failure metrics missing")
	}
	if got := value(mfs, "hotswap_dynamodb_calls_total", map[string]string{"db_operation_name": "PutItem"}); got == 0 {
		t.Errorf("no PutItem counted")
	}
	if got := value(mfs, "hotswap_client_connections", nil); got < 1 {
		t.Errorf("client connections: %v", got)
	}
	if got := value(mfs, "hotswap_redis_pool_connections", map[string]string{"hotswap_state": "shared"}); got < 1 {
		t.Errorf("shared pool connections: %v", got)
	}
	if t.Failed() {
		_, body := httpGet(t, "http://"+e.admin+"/metrics")
		t.Logf("/metrics:\n%s", body)
	}
}
