package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/spf13/pflag"

	"hotswap/admin"
	"hotswap/dual"
	"hotswap/migrate"
	"hotswap/observe"
	"hotswap/proxy"
	"hotswap/translate"
	"hotswap/translate/dynamo"
)

// The wiring of package observe into `hotswap serve`: its flags, the sources of the
// counters it reads, its hooks in the proxy and the DynamoDB client, the admin
// handlers and the health probes.

// Health probe of DynamoDB: one GetItem of a control key, at most every
// dynamoProbeEvery, each bounded by dynamoProbeTimeout.
const (
	dynamoProbeEvery   = 5 * time.Second
	dynamoProbeTimeout = time.Second
	probePK            = "hotswap#health"
	probeSK            = "probe"
)

func addObserveFlags(f *pflag.FlagSet, cfg *serveConfig) {
	f.BoolVar(&cfg.Metrics, "metrics", true, "count every command and time it and every backend call (hotswap_commands_total, latency histograms); false keeps only the counters the packages keep anyway")
	f.Float64Var(&cfg.TraceSample, "trace-sample", 0, "fraction of client commands traced (0..1), exported over OTLP to OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT; 0 turns tracing off")
}

// openObserve makes the telemetry, before the DynamoDB side that takes its hooks.
func openObserve(ctx context.Context, cfg serveConfig, log *slog.Logger) (*observe.Observer, error) {
	if cfg.TraceSample < 0 || cfg.TraceSample > 1 {
		return nil, usageError{fmt.Errorf("--trace-sample %v: want 0..1", cfg.TraceSample)}
	}
	host, _ := os.Hostname()
	obs, err := observe.New(ctx, observe.Options{
		NoCommandMetrics: !cfg.Metrics,
		Version:          version,
		Instance:         host,
		TraceSample:      cfg.TraceSample,
		Logger:           log,
	})
	if err != nil {
		return nil, fmt.Errorf("telemetry: %w", err)
	}
	return obs, nil
}

// registerObserve points the observer at the counters of the proxy (*srv, set
// later), the migration side and the admin server (*adm, for the page's readiness
// line), and starts its sampling.
func registerObserve(ctx context.Context, obs *observe.Observer, mg *migration, srv **proxy.Server, adm **admin.Server) error {
	src := observe.Sources{
		Proxy:  func() proxy.Stats { return (*srv).Stats() },
		Status: func() any { return statusOf(*srv, mg) },
		Ready: func(ctx context.Context) error {
			if *adm == nil {
				return nil
			}
			return (*adm).Ready(ctx)
		},
	}
	if mg.mapping != nil {
		src.Families = mg.mapping.Families
	}
	if mg.engine != nil {
		src.Engine = mg.engine.Stats
	}
	if mg.client != nil {
		src.Client = func() dynamo.Stats { return mg.client.Stats() }
	}
	if mg.syncer != nil {
		src.Sync = func() dual.Stats { return mg.syncer.Stats() }
	}
	if mg.shadow != nil {
		src.Shadow = func() dual.ShadowStats { return mg.shadow.Stats() }
	}
	if mg.stages != nil {
		src.Flags = mg.stages
	}
	if mg.client != nil && mg.mapping != nil {
		src.Backfill = &backfillSource{client: mg.client, table: mg.mapping.Table}
	}
	if err := obs.Register(src); err != nil {
		return fmt.Errorf("telemetry: %w", err)
	}
	obs.Start(ctx)
	return nil
}

// withObserve adds the observer's handlers and the health probes to the admin checks.
func withObserve(c admin.Checks, obs *observe.Observer, mg *migration) admin.Checks {
	c.Metrics = obs.MetricsHandler()
	c.Page = obs.PageHandler(5 * time.Second)
	c.Summary = obs.SummaryHandler()
	if mg.stages != nil {
		c.Probes = append(c.Probes, admin.Probe{Name: "flags", Check: func(context.Context) error {
			if err := mg.stages.Ready(); err != nil {
				return fmt.Errorf("not loaded: %w", err)
			}
			return nil
		}})
	}
	if mg.client != nil && mg.mapping != nil {
		db, table := mg.client.DB(), mg.mapping.Table
		c.Probes = append(c.Probes, admin.Probe{Name: "dynamodb", Check: admin.Cached(dynamoProbeEvery, dynamoProbeTimeout, func(ctx context.Context) error {
			return probeDynamo(ctx, db, table)
		})})
	}
	return c
}

// probeDynamo reads a control key: the cheapest call that proves the endpoint, the
// credentials and the table (GetItem needs no more permission than serving does).
func probeDynamo(ctx context.Context, db translate.Store, table string) error {
	_, err := db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(table),
		Key: map[string]types.AttributeValue{
			translate.AttrPK: &types.AttributeValueMemberS{Value: probePK},
			translate.AttrSK: &types.AttributeValueMemberS{Value: probeSK},
		},
	})
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("table %s: no answer within %v", table, dynamoProbeTimeout)
		}
		return fmt.Errorf("table %s: %w", table, err)
	}
	return nil
}

// closeObserve flushes the exporters.
func closeObserve(obs *observe.Observer, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := obs.Shutdown(ctx); err != nil {
		log.Warn("closing telemetry", "err", err)
	}
}

// backfillSource reads the backfills' progress from the table's control items (the
// backfill runs as its own process and publishes its counters with each
// checkpoint), at most every 5 seconds.
type backfillSource struct {
	client *dynamo.Client
	table  string
	mu     sync.Mutex
	at     time.Time
	last   []observe.BackfillProgress
}

func (b *backfillSource) Backfills(ctx context.Context) []observe.BackfillProgress {
	b.mu.Lock()
	defer b.mu.Unlock()
	if time.Since(b.at) < 5*time.Second {
		return b.last
	}
	b.at = time.Now()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	ps, err := migrate.ReadProgress(ctx, b.client.DB(), b.table, time.Now())
	if err != nil {
		return b.last // keep showing what was read last
	}
	out := make([]observe.BackfillProgress, 0, len(ps))
	for _, p := range ps {
		detail := p.Mode
		if p.Owner != "" && p.State == "running" {
			detail += ", " + p.Owner
		}
		switch {
		case p.Mode == "verify":
			detail += fmt.Sprintf(": %d compared, %d differences", p.Copied, p.Unmigratable)
		case p.Newer > 0 || p.Unmigratable > 0:
			detail += fmt.Sprintf(", %d already newer, %d unmigratable", p.Newer, p.Unmigratable)
		}
		out = append(out, observe.BackfillProgress{
			Family: p.Family, State: p.State, Scanned: p.Seen, Copied: p.Copied,
			Skipped: p.Newer + p.Skipped + p.Unmigratable, Failed: p.Errors, Total: uint64(max(p.Estimate, 0)),
			Started: p.Started, Updated: p.Updated, Detail: detail,
		})
	}
	b.last = out
	return out
}
