package observe

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"hotswap/dual"
	"hotswap/flags"
	"hotswap/proxy"
	"hotswap/translate"
	"hotswap/translate/dynamo"
)

// Attribute keys of hotswap's own dimensions (the database ones are OTel's semantic
// conventions: db.system.name, db.operation.name).
const (
	AttrFamily   = attribute.Key("hotswap.family")
	AttrStage    = attribute.Key("hotswap.stage")
	AttrOutcome  = attribute.Key("hotswap.outcome") // ok, error
	AttrBackend  = attribute.Key("hotswap.backend") // redis, dynamodb, dax
	AttrResult   = attribute.Key("hotswap.result")
	AttrKind     = attribute.Key("hotswap.mismatch.kind")
	AttrState    = attribute.Key("hotswap.state")
	AttrReason   = attribute.Key("hotswap.reason")
	AttrRevision = attribute.Key("hotswap.flags.revision")
)

var outcomeNames = [nOutcomes]string{"ok", "error"}

// Flags is what the observer reads of the flag source (flags.Source).
type Flags interface {
	Revision() string
	Ready() error
	Stats() flags.Stats
}

// Sources are where the counters the other packages keep are read from; every field
// may be nil (that part is then not reported).
type Sources struct {
	// Families are the mapping's key families (nil: none): the family attribute takes
	// these names only.
	Families []*translate.Family
	Proxy    func() proxy.Stats
	Engine   func() translate.Stats
	Client   func() dynamo.Stats
	Sync     func() dual.Stats
	Shadow   func() dual.ShadowStats
	Flags    Flags
	// Status is the /status document; the status page and summary show the parts
	// they do not know as they are (the fleet, for one).
	Status func() any
	// Ready is the readiness check (/readyz), shown on the page.
	Ready func(ctx context.Context) error
	// Backfill reports a backfill in progress (package migrate), if any.
	Backfill BackfillSource
}

// Register sets where the counters are read from and registers the observable
// instruments over them. Call it once, before the first client command and Start.
func (ob *Observer) Register(src Sources) error {
	ob.mu.Lock()
	ob.src = src
	ob.rec.setFamilies(src.Families)
	ob.mu.Unlock()
	m := ob.meter
	var errs []error
	cnt := func(name, unit, desc string) metric.Int64ObservableCounter {
		c, err := m.Int64ObservableCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	gauge := func(name, unit, desc string) metric.Int64ObservableGauge {
		g, err := m.Int64ObservableGauge(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return g
	}
	fgauge := func(name, unit, desc string) metric.Float64ObservableGauge {
		g, err := m.Float64ObservableGauge(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return g
	}
	commands := cnt("hotswap.commands", "{command}", "Client commands answered, by command, key family, stage and outcome")
	ob.addCallback(func(_ context.Context, o metric.Observer) error {
		r := ob.rec
		for i := range r.cmds {
			if v := r.cmds[i].Load(); v != 0 {
				o.ObserveInt64(commands, int64(v), metric.WithAttributeSet(ob.cmdAttrs(i)))
			}
		}
		return nil
	}, commands)

	if src.Proxy != nil {
		clients := gauge("hotswap.client.connections", "{connection}", "Client connections open now")
		accepted := cnt("hotswap.client.connections.accepted", "{connection}", "Client connections accepted since start")
		pool := gauge("hotswap.redis.pool.connections", "{connection}", "Upstream Redis connections, by state: shared (pipelined), idle and in_use (dedicated)")
		poolMax := gauge("hotswap.redis.pool.connections.max", "{connection}", "Cap on upstream Redis connections")
		pending := gauge("hotswap.redis.pool.pending", "{reply}", "Replies awaited from Redis now")
		ob.addCallback(func(_ context.Context, o metric.Observer) error {
			st := src.Proxy()
			o.ObserveInt64(clients, st.Clients)
			o.ObserveInt64(accepted, st.Accepted)
			u := st.Upstream
			o.ObserveInt64(pool, int64(u.Shared), metric.WithAttributes(AttrState.String("shared")))
			o.ObserveInt64(pool, int64(u.Idle), metric.WithAttributes(AttrState.String("idle")))
			o.ObserveInt64(pool, int64(u.InUse), metric.WithAttributes(AttrState.String("in_use")))
			o.ObserveInt64(poolMax, int64(u.MaxConns))
			o.ObserveInt64(pending, int64(u.Pending))
			return nil
		}, clients, accepted, pool, poolMax, pending)
	}
	if src.Engine != nil {
		dcmds := cnt("hotswap.dynamodb.commands", "{command}", "Commands run on DynamoDB by the translate engine (client commands, shadow reads, copies)")
		conflicts := cnt("hotswap.dynamodb.conflicts", "{conflict}", "Re-runs after a conditional write lost a race")
		derrs := cnt("hotswap.dynamodb.errors", "{command}", "DynamoDB commands answered with an error")
		calls := cnt("hotswap.dynamodb.calls", "{call}", "DynamoDB/DAX API calls, by operation")
		ob.addCallback(func(_ context.Context, o metric.Observer) error {
			st := src.Engine()
			o.ObserveInt64(dcmds, int64(st.Commands))
			o.ObserveInt64(conflicts, int64(st.Conflicts))
			o.ObserveInt64(derrs, int64(st.Errors))
			c := st.Calls
			for _, kv := range []struct {
				op string
				n  uint64
			}{{"GetItem", c.GetItem}, {"PutItem", c.PutItem}, {"UpdateItem", c.UpdateItem}, {"BatchGetItem", c.BatchGetItem},
				{"TransactWriteItems", c.TransactWriteItems}, {"Scan", c.Scan}, {"other", c.Other}} {
				o.ObserveInt64(calls, int64(kv.n), metric.WithAttributes(semconv.DBSystemNameAWSDynamoDB, semconv.DBOperationName(kv.op)))
			}
			return nil
		}, dcmds, conflicts, derrs, calls)
	}
	if src.Client != nil {
		daxUp := gauge("hotswap.dax.up", "", "1 while DAX answers (0: its calls go to DynamoDB, or no DAX)")
		daxFall := cnt("hotswap.dax.fallbacks", "{call}", "Eventual reads DynamoDB served instead of DAX")
		ob.addCallback(func(_ context.Context, o metric.Observer) error {
			st := src.Client()
			if !st.DAX {
				return nil
			}
			o.ObserveInt64(daxUp, b2i(st.DAXUp))
			o.ObserveInt64(daxFall, int64(st.DAXFallbacks))
			return nil
		}, daxUp, daxFall)
	}
	if src.Sync != nil {
		copies := cnt("hotswap.sync.copies", "{copy}", "Copies to the secondary store, by result: queued, applied, superseded, failed, dropped, repaired, unmigratable, coalesced")
		failures := cnt("hotswap.sync.secondary_write.failures", "{copy}", "Secondary writes that failed (the journal keeps them for the repairer)")
		depth := gauge("hotswap.sync.journal.depth", "{key}", "Keys in the repair journal at the last repairer pass")
		oldest := fgauge("hotswap.sync.journal.oldest_age", "s", "Age of the oldest journal entry at the last repairer pass")
		breaker := gauge("hotswap.sync.breaker.open", "", "1 while the circuit breaker stops copies to DynamoDB")
		ob.addCallback(func(_ context.Context, o metric.Observer) error {
			st := src.Sync()
			for _, kv := range []struct {
				r string
				n uint64
			}{{"queued", st.Queued}, {"applied", st.Applied}, {"superseded", st.Superseded}, {"failed", st.Failed},
				{"dropped", st.Dropped}, {"repaired", st.Repaired}, {"unmigratable", st.Unmigratable}, {"coalesced", st.Coalesced}} {
				o.ObserveInt64(copies, int64(kv.n), metric.WithAttributes(AttrResult.String(kv.r)))
			}
			o.ObserveInt64(failures, int64(st.Failed))
			o.ObserveInt64(depth, st.JournalDepth)
			o.ObserveFloat64(oldest, float64(st.OldestAgeMS)/1000)
			o.ObserveInt64(breaker, b2i(st.BreakerOpen))
			return nil
		}, copies, failures, depth, oldest, breaker)
	}
	if src.Backfill != nil {
		bkeys := gauge("hotswap.backfill.keys", "{key}", "Keys of the family's backfill so far, by family and result: seen, copied, skipped (newer in the target, stage, unmigratable), failed; and the estimate of the family's keys")
		brun := gauge("hotswap.backfill.running", "", "1 while a backfill of the family holds its lease")
		ob.addCallback(func(ctx context.Context, o metric.Observer) error {
			for _, b := range src.Backfill.Backfills(ctx) {
				fam := AttrFamily.String(b.Family)
				for _, kv := range []struct {
					r string
					n uint64
				}{{"seen", b.Scanned}, {"copied", b.Copied}, {"skipped", b.Skipped}, {"failed", b.Failed}, {"estimate", b.Total}} {
					o.ObserveInt64(bkeys, int64(kv.n), metric.WithAttributes(fam, AttrResult.String(kv.r)))
				}
				running := int64(0)
				if b.State == "running" {
					running = 1
				}
				o.ObserveInt64(brun, running, metric.WithAttributes(fam))
			}
			return nil
		}, bkeys, brun)
	}
	if src.Shadow != nil {
		cmp := cnt("hotswap.shadow.comparisons", "{comparison}", "Shadow reads, by family and result (match, mismatch by kind, skipped, timed_out, error)")
		ob.addCallback(func(_ context.Context, o metric.Observer) error {
			st := src.Shadow()
			if len(st.ByFamily) == 0 {
				observeShadow(o, cmp, st, nil)
				return nil
			}
			for name, fs := range st.ByFamily {
				observeShadow(o, cmp, fs, []attribute.KeyValue{AttrFamily.String(name)})
			}
			return nil
		}, cmp)
	}
	if src.Flags != nil {
		evals := cnt("hotswap.flags.evaluations", "{evaluation}", "Flag evaluations the decision cache could not answer")
		hits := cnt("hotswap.flags.cache_hits", "{lookup}", "Stage lookups answered from the decision cache")
		falls := cnt("hotswap.flags.fallbacks", "{decision}", "Decisions that kept the last good stage or the floor, by reason")
		changes := cnt("hotswap.flags.config_changes", "{change}", "Flag revisions put in force after the first load")
		rejected := cnt("hotswap.flags.rejected", "{config}", "Flag configurations refused as a whole")
		entries := gauge("hotswap.flags.cache_entries", "{entry}", "Decisions held in the cache")
		loaded := gauge("hotswap.flags.loaded", "", "1 once the flags have loaded")
		rev := gauge("hotswap.flags.revision", "", "1, with the revision in force as attribute")
		ob.addCallback(func(_ context.Context, o metric.Observer) error {
			st := src.Flags.Stats()
			o.ObserveInt64(evals, int64(st.Evaluations))
			o.ObserveInt64(hits, int64(st.CacheHits))
			f := st.Fallbacks
			for _, kv := range []struct {
				r string
				n uint64
			}{{"missing_flag", f.MissingFlag}, {"invalid_value", f.InvalidValue}, {"provider_error", f.ProviderError}, {"not_ready", f.NotReady}} {
				o.ObserveInt64(falls, int64(kv.n), metric.WithAttributes(AttrReason.String(kv.r)))
			}
			o.ObserveInt64(changes, int64(st.ConfigChanges))
			o.ObserveInt64(rejected, int64(st.Rejected))
			o.ObserveInt64(entries, int64(st.CacheEntries))
			o.ObserveInt64(loaded, b2i(src.Flags.Ready() == nil))
			if r := src.Flags.Revision(); r != "" {
				o.ObserveInt64(rev, 1, metric.WithAttributes(AttrRevision.String(r)))
			}
			return nil
		}, evals, hits, falls, changes, rejected, entries, loaded, rev)
	}
	return errors.Join(errs...)
}

func observeShadow(o metric.Observer, c metric.Int64ObservableCounter, st dual.ShadowStats, base []attribute.KeyValue) {
	obs := func(n uint64, kv ...attribute.KeyValue) {
		o.ObserveInt64(c, int64(n), metric.WithAttributes(append(append([]attribute.KeyValue(nil), base...), kv...)...))
	}
	mismatch := AttrResult.String("mismatch")
	obs(st.Match, AttrResult.String("match"))
	obs(st.MismatchValue, mismatch, AttrKind.String("value"))
	obs(st.MismatchMissing, mismatch, AttrKind.String("missing"))
	obs(st.MismatchType, mismatch, AttrKind.String("type"))
	obs(st.MismatchTTL, mismatch, AttrKind.String("ttl"))
	obs(st.Skipped, AttrResult.String("skipped"))
	obs(st.TimedOut, AttrResult.String("timed_out"))
	obs(st.Errors, AttrResult.String("error"))
}

func (ob *Observer) addCallback(f metric.Callback, insts ...metric.Observable) {
	reg, err := ob.meter.RegisterCallback(f, insts...)
	if err != nil {
		ob.log.Warn("metrics: register callback", "err", err)
		return
	}
	ob.mu.Lock()
	ob.regs = append(ob.regs, reg)
	ob.mu.Unlock()
}

// cmdAttrs is the attribute set of the command counter at array index i, made once.
func (ob *Observer) cmdAttrs(i int) attribute.Set {
	ob.attrMu.Lock()
	defer ob.attrMu.Unlock()
	if s, ok := ob.attrs[i]; ok {
		return s
	}
	r := ob.rec
	o := i % nOutcomes
	st := (i / nOutcomes) % nStages
	fi := (i / nOutcomes / nStages) % len(r.fams)
	ci := i / nOutcomes / nStages / len(r.fams)
	kvs := []attribute.KeyValue{
		semconv.DBOperationName(cmdName(ci)),
		AttrStage.String(translate.Stage(st).String()),
		AttrOutcome.String(outcomeNames[o]),
	}
	if f := r.fams[fi]; f != nil {
		kvs = append(kvs, AttrFamily.String(f.Name))
	}
	s := attribute.NewSet(kvs...)
	ob.attrs[i] = s
	return s
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// producer hands the recorder's histograms to the metric readers (OTel has no
// asynchronous histogram instrument; a Producer is its way to bring pre-aggregated
// data).
type producer struct{ ob *Observer }

func (p producer) Produce(context.Context) ([]metricdata.ScopeMetrics, error) {
	ob := p.ob
	r := ob.rec
	now := ob.o.Now()
	bounds := boundsSeconds()
	point := func(s histSnap, attrs attribute.Set) metricdata.HistogramDataPoint[float64] {
		return metricdata.HistogramDataPoint[float64]{
			Attributes: attrs, StartTime: ob.start, Time: now, Count: s.count(),
			Bounds: bounds, BucketCounts: append([]uint64(nil), s.Buckets[:]...), Sum: float64(s.SumNS) / 1e9,
		}
	}
	var cmdPts []metricdata.HistogramDataPoint[float64]
	for ci := range r.cmdHist {
		s := r.cmdHist[ci].snap()
		if s.count() == 0 {
			continue
		}
		cmdPts = append(cmdPts, point(s, attribute.NewSet(semconv.DBOperationName(cmdName(ci)))))
	}
	var backPts []metricdata.HistogramDataPoint[float64]
	for i := range r.redisHist {
		name := "PIPELINE"
		if i < r.nCmd {
			name = cmdName(i)
		}
		for o := 0; o < nOutcomes; o++ {
			if s := r.redisHist[i][o].snap(); s.count() != 0 {
				backPts = append(backPts, point(s, attribute.NewSet(semconv.DBSystemNameRedis, AttrBackend.String("redis"),
					semconv.DBOperationName(name), AttrOutcome.String(outcomeNames[o]))))
			}
		}
	}
	for b := backendDynamo; b < nBackends; b++ {
		for i, op := range dynamoOps {
			for o := 0; o < nOutcomes; o++ {
				if s := r.dynHist[b][i][o].snap(); s.count() != 0 {
					backPts = append(backPts, point(s, attribute.NewSet(semconv.DBSystemNameAWSDynamoDB, AttrBackend.String(backendNames[b]),
						semconv.DBOperationName(op), AttrOutcome.String(outcomeNames[o]))))
				}
			}
		}
	}
	var ms []metricdata.Metrics
	if len(cmdPts) > 0 {
		ms = append(ms, metricdata.Metrics{Name: "hotswap.command.duration", Unit: "s",
			Description: "Client command latency, from the start of its pipeline batch to its reply, by command",
			Data:        metricdata.Histogram[float64]{Temporality: metricdata.CumulativeTemporality, DataPoints: cmdPts}})
	}
	if len(backPts) > 0 {
		ms = append(ms, metricdata.Metrics{Name: "hotswap.backend.duration", Unit: "s",
			Description: "Backend call latency: Redis round trips (one segment of a pipeline) and DynamoDB/DAX calls, by backend, operation and outcome",
			Data:        metricdata.Histogram[float64]{Temporality: metricdata.CumulativeTemporality, DataPoints: backPts}})
	}
	if len(ms) == 0 {
		return nil, nil
	}
	return []metricdata.ScopeMetrics{{Scope: instrumentation.Scope{Name: ScopeName + "/histograms"}, Metrics: ms}}, nil
}
