package observe

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/aws/smithy-go/middleware"
	//lint:ignore SA1019 otelaws is deprecated in favour of the AWS SDK's own tracing (smithy-go/tracing/smithyoteltracing), which the module proxy does not serve here; it still works with aws-sdk-go-v2 v1.4x
	"go.opentelemetry.io/contrib/instrumentation/github.com/aws/aws-sdk-go-v2/otelaws"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"hotswap/proxy"
	"hotswap/proxy/command"
	"hotswap/translate"
)

// tracer traces a sampled fraction of client commands. The decision is made by the
// proxy hook before anything is allocated (one random number); a command that wins
// starts its span with a marker in the context that the root sampler honours, so the
// SDK does not sample a second time. Spans that start elsewhere (the repairer's and
// shadow's DynamoDB calls, which have no command span) are sampled by trace ID at the
// same rate.
type tracer struct {
	rate float64
	tp   *sdktrace.TracerProvider
	t    trace.Tracer
}

type presampledKey struct{}

// rootSampler samples roots the proxy chose, and others by trace ID at rate.
type rootSampler struct{ ratio sdktrace.Sampler }

func (s rootSampler) ShouldSample(p sdktrace.SamplingParameters) sdktrace.SamplingResult {
	if p.ParentContext != nil && p.ParentContext.Value(presampledKey{}) != nil {
		return sdktrace.SamplingResult{Decision: sdktrace.RecordAndSample, Tracestate: trace.SpanContextFromContext(p.ParentContext).TraceState()}
	}
	return s.ratio.ShouldSample(p)
}

func (s rootSampler) Description() string {
	return "HotswapCommandSampler{" + s.ratio.Description() + "}"
}

func newTracer(ctx context.Context, rate float64, res *resource.Resource, env func(string) string, log *slog.Logger) (*tracer, error) {
	opts := []sdktrace.TracerProviderOption{
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(rootSampler{sdktrace.TraceIDRatioBased(rate)})),
	}
	if envSet(env, "TRACES") {
		var exp sdktrace.SpanExporter
		var err error
		if protocol(env, "TRACES") == "grpc" {
			exp, err = otlptracegrpc.New(ctx)
		} else {
			exp, err = otlptracehttp.New(ctx)
		}
		if err != nil {
			return nil, fmt.Errorf("observe: otlp trace exporter: %w", err)
		}
		opts = append(opts, sdktrace.WithBatcher(exp))
		log.Info("traces exported over OTLP", "protocol", protocol(env, "TRACES"), "sample", rate)
	} else {
		log.Warn("--trace-sample is set but no OTLP endpoint is (OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT): spans are made and dropped")
	}
	tp := sdktrace.NewTracerProvider(opts...)
	return &tracer{rate: rate, tp: tp, t: tp.Tracer(ScopeName)}, nil
}

func (t *tracer) shutdown(ctx context.Context) error { return t.tp.Shutdown(ctx) }

// span is the proxy.Span of one traced command or backend call.
type span struct {
	t   *tracer
	ctx context.Context
	s   trace.Span
}

func (s *span) Context() context.Context { return s.ctx }

func (s *span) Child(backend string, info *command.Info) proxy.Span {
	name := "PIPELINE"
	if info != nil {
		name = cmdName(info.ID())
	}
	ctx, sp := s.t.t.Start(s.ctx, name, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(semconv.DBSystemNameRedis, AttrBackend.String(backend), semconv.DBOperationName(name)))
	return &span{t: s.t, ctx: ctx, s: sp}
}

func (s *span) SetRoute(fam *translate.Family, st translate.Stage) {
	s.s.SetAttributes(AttrFamily.String(fam.Name), AttrStage.String(st.String()))
}

func (s *span) End(failed bool) {
	if failed {
		s.s.SetStatus(codes.Error, "error reply")
	}
	s.s.End()
}

// AWSOptions are the AWS SDK API options that trace DynamoDB calls (otelaws), as
// children of the command span in their context; nil when tracing is off, so the SDK's
// middleware stack is untouched.
func (ob *Observer) AWSOptions() []func(*middleware.Stack) error {
	if ob == nil || ob.tracer == nil {
		return nil
	}
	var opts []func(*middleware.Stack) error
	otelaws.AppendMiddlewares(&opts,
		otelaws.WithTracerProvider(ob.tracer.tp),
		otelaws.WithTextMapPropagator(propagation.TraceContext{}),
		otelaws.WithAttributeBuilder(otelaws.DefaultAttributeBuilder, otelaws.DynamoDBAttributeBuilder),
	)
	return opts
}

// Proxy is the hook for proxy.Config.Observer: nil with NoCommandMetrics (and no
// tracing) or a nil Observer. Call it after Register.
func (ob *Observer) Proxy() proxy.Observer {
	if ob == nil || ob.o.NoCommandMetrics && ob.tracer == nil {
		return nil
	}
	return proxyHook{ob}
}

// Calls is the hook for translate.Options.Calls: nil with NoCommandMetrics or a nil
// Observer.
func (ob *Observer) Calls() translate.CallObserver {
	if ob == nil || ob.o.NoCommandMetrics {
		return nil
	}
	return ob.rec
}

// proxyHook implements proxy.Observer.
type proxyHook struct{ ob *Observer }

func (h proxyHook) Command(info *command.Info, fam *translate.Family, st translate.Stage, failed bool, d time.Duration) {
	if !h.ob.o.NoCommandMetrics {
		h.ob.rec.command(info, fam, st, failed, d)
	}
}

func (h proxyHook) Redis(first *command.Info, n int, failed bool, d time.Duration) {
	if !h.ob.o.NoCommandMetrics {
		h.ob.rec.redis(first, n, failed, d)
	}
}

func (h proxyHook) Tracing() bool { return h.ob.tracer != nil }

func (h proxyHook) StartSpan(ctx context.Context, info *command.Info) proxy.Span {
	t := h.ob.tracer
	if t == nil || (t.rate < 1 && rand.Float64() >= t.rate) {
		return nil
	}
	if ctx == nil {
		ctx = context.Background()
	}
	name := "UNKNOWN"
	if info != nil {
		name = cmdName(info.ID())
	}
	ctx, sp := t.t.Start(context.WithValue(ctx, presampledKey{}, true), name,
		trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(semconv.DBOperationName(name)))
	return &span{t: t, ctx: ctx, s: sp}
}
