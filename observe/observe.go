// Package observe is hotswap's telemetry: OpenTelemetry metrics (Prometheus /metrics
// on the admin listener, OTLP when the standard OTEL_EXPORTER_OTLP_* variables name an
// endpoint), traces (a span per sampled client command, child spans per backend call),
// and the status page and summary that `hotswap status` prints.
//
// The hot path (every client command, every Redis round trip, every DynamoDB call) is
// a few atomic adds into fixed arrays (recorder.go); everything else is read from the
// counters the other packages already keep (proxy, translate, dual, flags) by
// observable instruments when metrics are collected. Tracing off (sample 0) costs
// nothing per command; at a sample rate r, an unsampled command costs one random
// number.
package observe

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/otlptranslator"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// ScopeName is the instrumentation scope of hotswap's metrics and spans.
const ScopeName = "hotswap"

// Options configure an Observer.
type Options struct {
	// NoCommandMetrics leaves the per-command hooks out (Proxy and Calls return nil):
	// no command counters or latency histograms, for measuring what they cost. The
	// counters the other packages keep are still exported.
	NoCommandMetrics bool
	// Version and Instance name this process in the telemetry resource
	// (service.version, service.instance.id; default instance: the host name).
	Version, Instance string
	// TraceSample is the fraction of client commands traced (0..1); 0 turns tracing
	// off entirely.
	TraceSample float64
	// Env reads the OTEL_* variables (default os.Getenv): OTLP exporters are made
	// only when an OTEL_EXPORTER_OTLP_*ENDPOINT is set (and OTEL_*_EXPORTER is not
	// "none"); OTEL_EXPORTER_OTLP_PROTOCOL grpc or http/protobuf (default) picks the
	// transport, and the exporters read the rest (headers, timeouts, TLS) themselves.
	Env func(string) string
	// Window is how far back the status page's "recent" figures look (default 5m);
	// SampleEvery how often the figures are sampled for it (default 10s).
	Window, SampleEvery time.Duration
	Logger              *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Observer owns the meter and tracer providers, the hot-path recorder and the status
// page's history. Its zero value is not usable; New makes one.
type Observer struct {
	o       Options
	log     *slog.Logger
	rec     *recorder
	start   time.Time
	reg     *prometheus.Registry
	mp      *sdkmetric.MeterProvider
	meter   metric.Meter
	tracer  *tracer // nil: tracing off
	history *history

	mu      sync.Mutex
	src     Sources
	regs    []metric.Registration
	cancel  context.CancelFunc
	done    chan struct{}
	attrMu  sync.Mutex
	attrs   map[int]attribute.Set // command counter attribute sets by array index
	started bool
}

// New builds the providers. Register then tells it where the counters are; Start
// begins sampling for the status page.
func New(ctx context.Context, o Options) (*Observer, error) {
	if o.Env == nil {
		o.Env = os.Getenv
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Window <= 0 {
		o.Window = 5 * time.Minute
	}
	if o.SampleEvery <= 0 {
		o.SampleEvery = 10 * time.Second
	}
	if o.Instance == "" {
		o.Instance, _ = os.Hostname()
	}
	if o.TraceSample < 0 || o.TraceSample > 1 {
		return nil, fmt.Errorf("observe: trace sample %v: want 0..1", o.TraceSample)
	}
	ob := &Observer{o: o, log: o.Logger, rec: newRecorder(nil), start: o.Now(), attrs: map[int]attribute.Set{}}
	ob.history = newHistory(int(o.Window/o.SampleEvery) + 1)
	res, err := resource.New(ctx,
		resource.WithSchemaURL(semconv.SchemaURL),
		resource.WithAttributes(semconv.ServiceName("hotswap"), semconv.ServiceVersion(o.Version), semconv.ServiceInstanceID(o.Instance)),
		resource.WithFromEnv(),
	)
	if err != nil && res == nil {
		return nil, fmt.Errorf("observe: resource: %w", err)
	}
	prod := producer{ob}
	ob.reg = prometheus.NewRegistry()
	promExp, err := otelprom.New(
		otelprom.WithRegisterer(ob.reg),
		otelprom.WithTranslationStrategy(otlptranslator.UnderscoreEscapingWithSuffixes),
		otelprom.WithoutScopeInfo(),
		otelprom.WithProducer(prod),
	)
	if err != nil {
		return nil, fmt.Errorf("observe: prometheus exporter: %w", err)
	}
	mopts := []sdkmetric.Option{sdkmetric.WithResource(res), sdkmetric.WithReader(promExp)}
	if exp, err := metricExporter(ctx, o.Env); err != nil {
		return nil, err
	} else if exp != nil {
		mopts = append(mopts, sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp, sdkmetric.WithProducer(prod))))
		ob.log.Info("metrics exported over OTLP", "protocol", protocol(o.Env, "METRICS"))
	}
	ob.mp = sdkmetric.NewMeterProvider(mopts...)
	ob.meter = ob.mp.Meter(ScopeName)
	if o.TraceSample > 0 {
		t, err := newTracer(ctx, o.TraceSample, res, o.Env, ob.log)
		if err != nil {
			_ = ob.mp.Shutdown(ctx)
			return nil, err
		}
		ob.tracer = t
	}
	return ob, nil
}

// envSet: the OTLP endpoint for a signal (TRACES, METRICS) is configured and that
// signal's exporter is not turned off.
func envSet(env func(string) string, signal string) bool {
	if strings.EqualFold(env("OTEL_"+signal+"_EXPORTER"), "none") || env("OTEL_SDK_DISABLED") == "true" {
		return false
	}
	return env("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || env("OTEL_EXPORTER_OTLP_"+signal+"_ENDPOINT") != ""
}

// protocol is the OTLP transport for a signal: "grpc" or "http/protobuf" (default).
func protocol(env func(string) string, signal string) string {
	p := env("OTEL_EXPORTER_OTLP_" + signal + "_PROTOCOL")
	if p == "" {
		p = env("OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	if p == "grpc" {
		return "grpc"
	}
	return "http/protobuf"
}

func metricExporter(ctx context.Context, env func(string) string) (sdkmetric.Exporter, error) {
	if !envSet(env, "METRICS") {
		return nil, nil
	}
	var exp sdkmetric.Exporter
	var err error
	if protocol(env, "METRICS") == "grpc" {
		exp, err = otlpmetricgrpc.New(ctx)
	} else {
		exp, err = otlpmetrichttp.New(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("observe: otlp metric exporter: %w", err)
	}
	return exp, nil
}

// MetricsHandler serves the Prometheus text format (/metrics).
func (ob *Observer) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(ob.reg, promhttp.HandlerOpts{ErrorLog: slogPromLogger{ob.log}})
}

// Tracing reports whether commands are traced.
func (ob *Observer) Tracing() bool { return ob.tracer != nil }

// Shutdown stops the sampler and flushes the exporters (bounded by ctx).
func (ob *Observer) Shutdown(ctx context.Context) error {
	ob.mu.Lock()
	cancel, done := ob.cancel, ob.done
	ob.cancel = nil
	regs := ob.regs
	ob.regs = nil
	ob.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
	var errs []error
	for _, r := range regs {
		errs = append(errs, r.Unregister())
	}
	errs = append(errs, ob.mp.Shutdown(ctx))
	if ob.tracer != nil {
		errs = append(errs, ob.tracer.shutdown(ctx))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("observe: shutdown: %w", err)
	}
	return nil
}

// slogPromLogger adapts slog to promhttp's error log.
type slogPromLogger struct{ log *slog.Logger }

func (l slogPromLogger) Println(v ...any) { l.log.Warn("metrics: " + fmt.Sprint(v...)) }
