package observe

import (
	"context"
	"encoding/json"
	"sort"
	"sync"
	"time"

	"hotswap/dual"
	"hotswap/translate"
)

// BackfillProgress is what the status page and `hotswap status` show of one
// backfill (package migrate reports it through a BackfillSource).
type BackfillProgress struct {
	Family  string    `json:"family"`
	State   string    `json:"state"` // e.g. running, paused, done, failed
	Scanned uint64    `json:"scanned"`
	Copied  uint64    `json:"copied"`
	Skipped uint64    `json:"skipped"` // newer in DynamoDB, tombstoned, unmigratable
	Failed  uint64    `json:"failed"`
	Total   uint64    `json:"total,omitempty"` // estimated keys to scan; 0: unknown
	Started time.Time `json:"started,omitzero"`
	Updated time.Time `json:"updated,omitzero"`
	Detail  string    `json:"detail,omitempty"`
}

// Percent is Scanned/Total in percent, or -1 when the total is unknown.
func (b BackfillProgress) Percent() float64 {
	if b.Total == 0 {
		return -1
	}
	return min(100, float64(b.Scanned)*100/float64(b.Total))
}

// BackfillSource reports the backfills this instance knows of.
type BackfillSource interface {
	Backfills(ctx context.Context) []BackfillProgress
}

// Summary is the status page's model, served as JSON at /summary and printed by
// `hotswap status`: what every stage and counter says now, and what the last
// minutes looked like.
type Summary struct {
	Version       string    `json:"version"`
	Instance      string    `json:"instance"`
	Time          time.Time `json:"time"`
	UptimeSeconds float64   `json:"uptime_seconds"`
	// Ready is "" when /readyz passes, else its reason.
	Ready string `json:"ready"`
	// WindowSeconds is how far back the recent figures reach (up to Options.Window,
	// less just after start).
	WindowSeconds float64 `json:"window_seconds"`

	Commands  Rate               `json:"commands"`
	Families  []FamilySummary    `json:"families"`
	Backends  []BackendSummary   `json:"backends"`
	Top       []CommandSummary   `json:"top_commands"`
	Sync      *dual.Stats        `json:"sync,omitempty"`
	Shadow    *ShadowSummary     `json:"shadow,omitempty"`
	Flags     *FlagSummary       `json:"flags,omitempty"`
	Clients   int64              `json:"clients"`
	Pool      map[string]int     `json:"redis_pool,omitempty"`
	DAX       *DAXSummary        `json:"dax,omitempty"`
	Backfills []BackfillProgress `json:"backfills,omitempty"`
	// Trend is commands per second in each sampling interval of the window, oldest first.
	Trend []float64 `json:"trend,omitempty"`
	// Status is the /status document as it is (the fleet, when the registry is on, and
	// whatever else it grows).
	Status json.RawMessage `json:"status,omitempty"`
}

// Rate is a count over the window and since start.
type Rate struct {
	Window    uint64  `json:"window"`
	PerSecond float64 `json:"per_second"`
	Errors    uint64  `json:"errors_window"`
	Total     uint64  `json:"total"`
}

// FamilySummary is one key family.
type FamilySummary struct {
	Name  string `json:"name"`
	Match string `json:"match"`
	Type  string `json:"type"`
	Floor string `json:"floor"`
	// Stages counts the family's commands per stage over the window: the stage mix
	// being served (stage name → commands).
	Stages   map[string]uint64 `json:"stages"`
	Commands Rate              `json:"commands"`
	// Shadow is the family's shadow comparisons over the window.
	Shadow ShadowCounts `json:"shadow"`
}

// ShadowCounts are shadow comparisons over the window.
type ShadowCounts struct {
	Match     uint64            `json:"match"`
	Mismatch  uint64            `json:"mismatch"`
	ByKind    map[string]uint64 `json:"mismatch_by_kind,omitempty"`
	Skipped   uint64            `json:"skipped"`
	TimedOut  uint64            `json:"timed_out"`
	Errors    uint64            `json:"errors"`
	Agreement float64           `json:"agreement"` // match/(match+mismatch), -1 with no comparison
}

// ShadowSummary is every comparison: over the window and since start.
type ShadowSummary struct {
	Window ShadowCounts     `json:"window"`
	Total  dual.ShadowStats `json:"total"`
}

// BackendSummary is one backend over the window.
type BackendSummary struct {
	Name      string  `json:"name"`
	Calls     uint64  `json:"calls"`
	PerSecond float64 `json:"per_second"`
	Errors    uint64  `json:"errors"`
	P50ms     float64 `json:"p50_ms"`
	P99ms     float64 `json:"p99_ms"`
}

// CommandSummary is one command over the window.
type CommandSummary struct {
	Name   string  `json:"name"`
	Calls  uint64  `json:"calls"`
	Errors uint64  `json:"errors"`
	P50ms  float64 `json:"p50_ms"`
	P99ms  float64 `json:"p99_ms"`
}

// FlagSummary is the flag source's state.
type FlagSummary struct {
	Revision    string `json:"revision"`
	Loaded      bool   `json:"loaded"`
	NotReady    string `json:"not_ready,omitempty"`
	Evaluations uint64 `json:"evaluations"`
	Fallbacks   uint64 `json:"fallbacks"`
	Changes     uint64 `json:"config_changes"`
	Rejected    uint64 `json:"rejected"`
}

// DAXSummary is DAX's state.
type DAXSummary struct {
	Up        bool   `json:"up"`
	Fallbacks uint64 `json:"fallbacks"`
}

// sample is a snapshot of the cumulative counters, for window deltas.
type sample struct {
	at       time.Time
	famStage [][nStages]uint64
	famErrs  []uint64
	backends [nBackends]histSnap
	backErrs [nBackends]uint64
	cmdCalls []uint64
	cmdErrs  []uint64
	cmdHist  []histSnap
	shadow   map[string]dual.ShadowStats // by family; "" for all
}

// history keeps the samples of the last window.
type history struct {
	mu   sync.Mutex
	ring []sample
	max  int
}

func newHistory(n int) *history { return &history{max: max(n, 2)} }

func (h *history) add(s sample) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ring = append(h.ring, s)
	if len(h.ring) > h.max {
		h.ring = append(h.ring[:0], h.ring[len(h.ring)-h.max:]...)
	}
}

func (h *history) all() []sample {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]sample(nil), h.ring...)
}

// takeSample snapshots the counters now.
func (ob *Observer) takeSample() sample {
	r := ob.rec
	s := sample{at: ob.o.Now()}
	s.famStage, s.famErrs = r.familyCounts()
	for b := 0; b < nBackends; b++ {
		s.backends[b], s.backErrs[b] = r.backendSnap(b)
	}
	s.cmdCalls, s.cmdErrs = r.commandCounts()
	s.cmdHist = make([]histSnap, len(r.cmdHist))
	for i := range r.cmdHist {
		if s.cmdCalls[i] != 0 {
			s.cmdHist[i] = r.cmdHist[i].snap()
		}
	}
	ob.mu.Lock()
	src := ob.src
	ob.mu.Unlock()
	if src.Shadow != nil {
		st := src.Shadow()
		s.shadow = map[string]dual.ShadowStats{"": st}
		for name, fs := range st.ByFamily {
			s.shadow[name] = fs
		}
	}
	return s
}

// Start samples the counters every Options.SampleEvery until Shutdown, for the
// status page's recent figures.
func (ob *Observer) Start(ctx context.Context) {
	ob.mu.Lock()
	if ob.started {
		ob.mu.Unlock()
		return
	}
	ob.started = true
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	ob.cancel, ob.done = cancel, done
	ob.mu.Unlock()
	ob.history.add(ob.takeSample())
	go func() {
		defer close(done)
		t := time.NewTicker(ob.o.SampleEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				ob.history.add(ob.takeSample())
			}
		}
	}()
}

// Summary computes the summary now. The recent figures are the difference between
// now and the oldest sample within the window.
func (ob *Observer) Summary(ctx context.Context) Summary {
	now := ob.takeSample()
	hist := ob.history.all()
	base := sample{}
	if len(hist) > 0 {
		base = hist[0]
		for _, s := range hist {
			if now.at.Sub(s.at) <= ob.o.Window {
				base = s
				break
			}
		}
	}
	ob.mu.Lock()
	src := ob.src
	ob.mu.Unlock()
	secs := 0.0
	if !base.at.IsZero() {
		secs = now.at.Sub(base.at).Seconds()
	}
	perSec := func(n uint64) float64 {
		if secs <= 0 {
			return 0
		}
		return float64(n) / secs
	}
	sum := Summary{
		Version: ob.o.Version, Instance: ob.o.Instance, Time: now.at,
		UptimeSeconds: now.at.Sub(ob.start).Seconds(), WindowSeconds: secs,
	}
	if src.Ready != nil {
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		if err := src.Ready(rctx); err != nil {
			sum.Ready = err.Error()
		}
		cancel()
	}
	// Commands, all and per family.
	var total, totalErrs, winAll, winErrs uint64
	r := ob.rec
	for fi := range r.fams {
		var fsum, fwin, ferrWin uint64
		stages := map[string]uint64{}
		for st := 0; st < nStages; st++ {
			n := now.famStage[fi][st]
			fsum += n
			w := n - at(base.famStage, fi, st)
			fwin += w
			if w > 0 {
				stages[stageName(st)] = w
			}
		}
		ferrWin = now.famErrs[fi] - atErr(base.famErrs, fi)
		total += fsum
		totalErrs += now.famErrs[fi]
		winAll += fwin
		winErrs += ferrWin
		f := r.fams[fi]
		if f == nil {
			continue
		}
		fs := FamilySummary{
			Name: f.Name, Match: f.Match, Type: f.Kind.String(), Floor: f.Floor.String(), Stages: stages,
			Commands: Rate{Window: fwin, PerSecond: perSec(fwin), Errors: ferrWin, Total: fsum},
			Shadow:   shadowDelta(now.shadow[f.Name], base.shadow[f.Name]),
		}
		sum.Families = append(sum.Families, fs)
	}
	_ = totalErrs
	sum.Commands = Rate{Window: winAll, PerSecond: perSec(winAll), Errors: winErrs, Total: total}
	// Backends.
	for b := 0; b < nBackends; b++ {
		d := now.backends[b].sub(base.backends[b])
		n := d.count()
		if n == 0 && now.backends[b].count() == 0 {
			continue
		}
		sum.Backends = append(sum.Backends, BackendSummary{
			Name: backendNames[b], Calls: n, PerSecond: perSec(n), Errors: now.backErrs[b] - base.backErrs[b],
			P50ms: ms(d.quantile(0.5)), P99ms: ms(d.quantile(0.99)),
		})
	}
	// Top commands over the window.
	for ci := range now.cmdCalls {
		calls := now.cmdCalls[ci] - atU(base.cmdCalls, ci)
		if calls == 0 {
			continue
		}
		h := now.cmdHist[ci]
		if ci < len(base.cmdHist) {
			h = h.sub(base.cmdHist[ci])
		}
		sum.Top = append(sum.Top, CommandSummary{Name: cmdName(ci), Calls: calls, Errors: now.cmdErrs[ci] - atU(base.cmdErrs, ci),
			P50ms: ms(h.quantile(0.5)), P99ms: ms(h.quantile(0.99))})
	}
	sort.Slice(sum.Top, func(i, j int) bool { return sum.Top[i].Calls > sum.Top[j].Calls })
	if len(sum.Top) > 10 {
		sum.Top = sum.Top[:10]
	}
	// Trend: commands per second in each interval.
	all := append(hist, now)
	for i := 1; i < len(all); i++ {
		dt := all[i].at.Sub(all[i-1].at).Seconds()
		if dt <= 0 {
			continue
		}
		var a, b uint64
		for fi := range all[i].famStage {
			for st := 0; st < nStages; st++ {
				a += all[i].famStage[fi][st]
				b += at(all[i-1].famStage, fi, st)
			}
		}
		sum.Trend = append(sum.Trend, float64(a-b)/dt)
	}
	if src.Sync != nil {
		st := src.Sync()
		sum.Sync = &st
	}
	if src.Shadow != nil {
		sum.Shadow = &ShadowSummary{Window: shadowDelta(now.shadow[""], base.shadow[""]), Total: now.shadow[""]}
		sum.Shadow.Total.ByFamily = nil
	}
	if src.Flags != nil {
		st := src.Flags.Stats()
		fs := &FlagSummary{Revision: src.Flags.Revision(), Loaded: true, Evaluations: st.Evaluations,
			Fallbacks: st.Fallbacks.Total(), Changes: st.ConfigChanges, Rejected: st.Rejected}
		if err := src.Flags.Ready(); err != nil {
			fs.Loaded, fs.NotReady = false, err.Error()
		}
		sum.Flags = fs
	}
	if src.Proxy != nil {
		st := src.Proxy()
		sum.Clients = st.Clients
		u := st.Upstream
		sum.Pool = map[string]int{"open": u.Open, "shared": u.Shared, "idle": u.Idle, "in_use": u.InUse, "pending": u.Pending, "max": u.MaxConns}
	}
	if src.Client != nil {
		if st := src.Client(); st.DAX {
			sum.DAX = &DAXSummary{Up: st.DAXUp, Fallbacks: st.DAXFallbacks}
		}
	}
	if src.Backfill != nil {
		sum.Backfills = src.Backfill.Backfills(ctx)
	}
	if src.Status != nil {
		if b, err := json.Marshal(src.Status()); err == nil {
			sum.Status = b
		} else {
			ob.log.Warn("summary: encode status", "err", err)
		}
	}
	return sum
}

func shadowDelta(now, base dual.ShadowStats) ShadowCounts {
	d := ShadowCounts{
		Match:    now.Match - base.Match,
		Skipped:  now.Skipped - base.Skipped,
		TimedOut: now.TimedOut - base.TimedOut,
		Errors:   now.Errors - base.Errors,
		ByKind:   map[string]uint64{},
	}
	for k, v := range map[string]uint64{
		"value": now.MismatchValue - base.MismatchValue, "missing": now.MismatchMissing - base.MismatchMissing,
		"type": now.MismatchType - base.MismatchType, "ttl": now.MismatchTTL - base.MismatchTTL,
	} {
		if v > 0 {
			d.ByKind[k] = v
			d.Mismatch += v
		}
	}
	d.Agreement = -1
	if n := d.Match + d.Mismatch; n > 0 {
		d.Agreement = float64(d.Match) / float64(n)
	}
	return d
}

func at(s [][nStages]uint64, fi, st int) uint64 {
	if fi < len(s) {
		return s[fi][st]
	}
	return 0
}

func atErr(s []uint64, i int) uint64 { return atU(s, i) }

func atU(s []uint64, i int) uint64 {
	if i < len(s) {
		return s[i]
	}
	return 0
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// stageName is a stage's name.
func stageName(st int) string { return translate.Stage(st).String() }
