package flags

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	flagd "github.com/open-feature/go-sdk-contrib/providers/flagd/pkg"
	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/isolated"

	"hotswap/translate"
)

// Log keys.
const (
	logKeyComponent = "component"
	logKeyFlag      = "flag"
	logKeyReason    = "reason"
	logKeyRevision  = "revision"
	logKeySource    = "source"
	logKeyValue     = "value"
	logKeyChanged   = "changed"
	logKeyError     = "error"
)

// Fallback reasons, as logged.
const (
	reasonMissingFlag   = "missing flag"
	reasonInvalidValue  = "invalid value"
	reasonProviderError = "provider error"
	reasonNotReady      = "not ready"
)

// warnEvery is how often the same (flag, reason) is logged again within one
// revision: trouble is logged once per revision and then at most this often, not
// once per command.
const warnEvery = time.Minute

// providerDeadline bounds the flagd provider's Init. The provider only starts
// once a configuration is waiting in the relay, so Init takes milliseconds; the
// generous bound only matters on a starved machine. (flagd also applies it as a
// context timeout to each in-process evaluation, where it never fires.)
const providerDeadline = 10 * time.Second

// Option adjusts OpenFile and OpenFlagd.
type Option func(*options)

type options struct {
	cacheSize    int
	pollInterval time.Duration
	noWatch      bool // tests: polling only
}

// WithCacheSize bounds the decision cache (DefaultCacheSize by default).
func WithCacheSize(n int) Option { return func(o *options) { o.cacheSize = n } }

// WithPollInterval sets how often OpenFile re-reads the flag file besides
// watching it (DefaultPollInterval by default; zero or less turns polling off).
func WithPollInterval(d time.Duration) Option { return func(o *options) { o.pollInterval = d } }

// OpenFeature is a Source that evaluates flags with the OpenFeature go-sdk and the
// flagd provider (in-process evaluator), fed by a flag file (OpenFile) or a flagd
// daemon (OpenFlagd). See the package documentation.
type OpenFeature struct {
	log    *slog.Logger
	source string // the file or flagd address, for messages
	cache  *cache
	valid  *validator
	relay  *relay

	// api is this Source's own OpenFeature API instance (isolated.NewAPI), not the
	// go-sdk's global singleton; client evaluates against its default provider.
	api    *openfeature.EvaluationAPI
	client *openfeature.Client
	// activeMu serialises starting the provider.
	activeMu sync.Mutex
	active   bool // a provider is set and initialised

	flags   atomic.Pointer[map[string]*flagState] // copy on write
	flagsMu sync.Mutex

	ready     atomic.Bool
	readyCh   chan struct{} // closed on the first load
	readyOnce sync.Once
	loadErr   atomic.Pointer[error] // why the last load failed; nil when it did not
	revision  atomic.Pointer[string]
	refreshMu sync.Mutex // serialises refresh (the go-sdk runs each handler in its own goroutine)

	evaluations, rejected, changes        atomic.Uint64
	missing, invalid, providerErr, notRdy atomic.Uint64

	warnMu sync.Mutex
	warned map[warnKey]warnState

	configMu sync.Mutex
	configs  []revConfig // the last few accepted configurations, newest last

	killed       atomic.Bool            // KillSwitchFlag is true in the configuration in force
	killOverride atomic.Bool            // the fleet's kill switch (SetKillOverride)
	offered      atomic.Uint64          // valid configurations handed to the provider
	offeredRev   atomic.Pointer[string] // the revision of the last one

	onChange, onError openfeature.EventCallback

	ctx     context.Context // ends at Close; loops watch it
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	closeMu sync.Mutex
	closed  bool
}

type warnKey struct{ flag, reason string }

// revConfig is an accepted configuration as read from the source.
type revConfig struct {
	rev  string
	data []byte
}

// keptConfigs is how many accepted configurations Config can still find.
const keptConfigs = 8

type warnState struct {
	revision string
	at       time.Time
}

func newOpenFeature(log *slog.Logger, source, uri string, o options) (*OpenFeature, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	valid, err := newValidator(log)
	if err != nil {
		return nil, err
	}
	s := &OpenFeature{
		log:     log.With(logKeyComponent, "flags"),
		source:  source,
		cache:   newCache(o.cacheSize),
		valid:   valid,
		relay:   newRelay(uri),
		api:     isolated.NewAPI(),
		readyCh: make(chan struct{}),
		warned:  make(map[warnKey]warnState),
	}
	s.client = s.api.NewClient()
	empty := map[string]*flagState{}
	s.flags.Store(&empty)
	rev := ""
	s.revision.Store(&rev)
	s.ctx, s.cancel = context.WithCancel(context.Background())

	change := func(d openfeature.EventDetails) { s.refresh(d.FlagChanges) }
	perr := func(d openfeature.EventDetails) {
		s.log.Warn("flags: provider reports an error", logKeySource, s.source, logKeyError, d.Message)
	}
	s.onChange, s.onError = &change, &perr
	s.api.AddHandler(openfeature.ProviderConfigChange, s.onChange)
	s.api.AddHandler(openfeature.ProviderError, s.onError)
	return s, nil
}

// Stage implements Source.
func (s *OpenFeature) Stage(ctx context.Context, f *translate.Family, entity []byte) translate.Stage {
	st := s.stage(ctx, f, entity)
	if (s.killed.Load() || s.killOverride.Load()) && st != translate.StageComplete {
		// The kill switch: every family back to plain pass-through, floors
		// included, except what only DynamoDB holds (complete).
		return translate.StageOff
	}
	return st
}

// KillSwitchFlag is the boolean flag that, when true, serves every family at off
// (plain pass-through) except entities at complete, whose data only DynamoDB holds.
// It is part of the configuration, so moving DynamoDB-authoritative entities back to
// Redis goes through the fleet fence like any other change of authority.
const KillSwitchFlag = "hotswap.killswitch"

// Killed reports whether the configuration in force turns the kill switch on.
func (s *OpenFeature) Killed() bool { return s.killed.Load() }

// SetKillOverride turns the kill switch on or off whatever the configuration says
// (the fleet registry's kill switch; the fleet fence decides when).
func (s *OpenFeature) SetKillOverride(on bool) { s.killOverride.Store(on) }

func (s *OpenFeature) stage(ctx context.Context, f *translate.Family, entity []byte) translate.Stage {
	fs := (*s.flags.Load())[f.Flag]
	if fs == nil {
		fs = s.addFlag(f.Flag)
	}
	gen := fs.gen.Load()
	h := s.cache.hash(fs, entity)
	sh := s.cache.shard(h)
	last, ok := s.cache.get(sh, h, fs, entity)
	if ok && last.gen == gen {
		sh.hits.Add(1)
		return max(last.stage, f.Floor)
	}
	return s.decide(ctx, f, fs, gen, sh, h, entity, last, ok)
}

// decide evaluates a lookup the cache could not answer and caches the decision.
func (s *OpenFeature) decide(ctx context.Context, f *translate.Family, fs *flagState, gen uint64,
	sh *cacheShard, h uint64, entity []byte, last entry, hasLast bool,
) translate.Stage {
	if !s.ready.Load() {
		s.notRdy.Add(1)
		s.warn(f.Flag, reasonNotReady, "", "flags: not loaded yet: family at its floor")
		return f.Floor
	}
	s.evaluations.Add(1)
	st, reason, value := s.evaluate(ctx, f.Flag, entity)
	if reason == "" {
		s.cache.put(sh, h, entry{flag: fs, entity: string(entity), gen: gen, stage: st})
		return max(st, f.Floor)
	}
	// Flag trouble never moves an entity backwards: keep the last good stage.
	// StageOff, raised to the floor, when there is none.
	keep := translate.StageOff
	if hasLast {
		keep = last.stage
	}
	switch reason {
	case reasonMissingFlag:
		s.missing.Add(1)
		s.warn(f.Flag, reason, value, "flags: flag not defined: entities keep their last stage, new ones get the family's floor")
	case reasonInvalidValue:
		s.invalid.Add(1)
		s.warn(f.Flag, reason, value, "flags: flag value is not a stage: entity keeps its last stage")
	default:
		s.providerErr.Add(1)
		s.warn(f.Flag, reason, value, "flags: evaluation failed: entity keeps its last stage")
		// Possibly transient: evaluate again next time.
		return max(keep, f.Floor)
	}
	// Missing flags and invalid values hold until the configuration changes, so
	// the fallback is cached like a decision; the entry still carries the last
	// good stage for the next fallback.
	s.cache.put(sh, h, entry{flag: fs, entity: string(entity), gen: gen, stage: keep})
	return max(keep, f.Floor)
}

// evaluate asks the provider. reason is "" on success; value describes the
// trouble otherwise.
func (s *OpenFeature) evaluate(ctx context.Context, flag string, entity []byte) (translate.Stage, string, string) {
	d, err := s.client.StringValueDetails(ctx, flag, "", openfeature.NewEvaluationContext(string(entity), nil))
	if err != nil {
		switch d.ErrorCode {
		case openfeature.FlagNotFoundCode:
			return 0, reasonMissingFlag, ""
		case openfeature.TypeMismatchCode, openfeature.ParseErrorCode:
			return 0, reasonInvalidValue, string(d.ErrorCode)
		default:
			return 0, reasonProviderError, err.Error()
		}
	}
	if d.Reason == openfeature.DisabledReason {
		return 0, reasonMissingFlag, "DISABLED"
	}
	st, err := translate.ParseStage(d.Value)
	if err != nil {
		return 0, reasonInvalidValue, d.Value
	}
	return st, "", ""
}

func (s *OpenFeature) addFlag(name string) *flagState {
	s.flagsMu.Lock()
	defer s.flagsMu.Unlock()
	old := *s.flags.Load()
	if fs := old[name]; fs != nil {
		return fs
	}
	m := make(map[string]*flagState, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	fs := s.cache.newFlag(name)
	m[name] = fs
	s.flags.Store(&m)
	return fs
}

// warn logs a fallback once per (flag, reason) and revision, and again at most
// every warnEvery. Entities are not logged: they are user data.
func (s *OpenFeature) warn(flag, reason, value, msg string) {
	rev := s.Revision()
	now := time.Now()
	k := warnKey{flag, reason}
	s.warnMu.Lock()
	w, seen := s.warned[k]
	if seen && w.revision == rev && now.Sub(w.at) < warnEvery {
		s.warnMu.Unlock()
		return
	}
	s.warned[k] = warnState{revision: rev, at: now}
	s.warnMu.Unlock()
	args := []any{logKeyFlag, flag, logKeyReason, reason, logKeyRevision, rev, logKeySource, s.source}
	if value != "" {
		args = append(args, logKeyValue, value)
	}
	s.log.Warn(msg, args...)
}

// refresh runs when the provider reports a configuration change (which the
// first load is too): it invalidates the cached decisions of the flags that
// changed (all of them when the event does not say) and reads the revision now in
// force. The provider reports after its evaluator holds the new configuration, so
// a decision made before the bump is stale after it. The go-sdk runs each handler
// in a goroutine of its own, so two reports may be handled in either order: each
// bumps its own flags, and both read the newest revision.
func (s *OpenFeature) refresh(changed []string) {
	s.refreshMu.Lock()
	defer s.refreshMu.Unlock()
	flags := *s.flags.Load()
	if changed == nil {
		for _, fs := range flags {
			fs.gen.Add(1)
		}
	}
	var names []string
	for _, name := range changed {
		if name == RevisionFlag || name == "" {
			continue
		}
		names = append(names, name)
		if fs := flags[name]; fs != nil {
			fs.gen.Add(1)
		}
	}
	rev, err := s.client.StringValue(context.Background(), RevisionFlag, "", openfeature.EvaluationContext{})
	if err != nil || rev == "" {
		return
	}
	killed, _ := s.client.BooleanValue(context.Background(), KillSwitchFlag, false, openfeature.EvaluationContext{})
	if killed != s.killed.Swap(killed) {
		s.log.Warn("flags: kill switch", logKeySource, s.source, logKeyRevision, rev, "on", killed)
	}
	old := s.Revision()
	if rev == old {
		return
	}
	s.revision.Store(&rev)
	if old != "" {
		s.changes.Add(1)
		s.log.Info("flags: configuration changed", logKeySource, s.source, logKeyRevision, rev, logKeyChanged, names)
	} else {
		s.log.Info("flags: configuration loaded", logKeySource, s.source, logKeyRevision, rev)
	}
	s.loadErr.Store(nil)
	s.ready.Store(true)
	s.readyOnce.Do(func() { close(s.readyCh) })
}

// offer checks a configuration read from the source and, when it is valid, hands
// it to the provider, starting the provider on the first one. It returns the
// reason a configuration was refused.
func (s *OpenFeature) offer(ctx context.Context, data []byte) error {
	rev := revisionOf(data)
	cfg, err := s.valid.prepare(data, rev)
	if err != nil {
		s.rejected.Add(1)
		s.setLoadErr(err)
		s.log.Warn("flags: configuration refused: the one in force stays", logKeySource, s.source,
			logKeyRevision, s.Revision(), logKeyError, err)
		return err
	}
	s.keepConfig(rev, data)
	// Counted before the provider can see it: a reader that evaluated under it
	// then reads a new count (see Offered).
	s.offeredRev.Store(&rev)
	s.offered.Add(1)
	s.relay.put(cfg)
	if err := s.activate(ctx); err != nil {
		s.setLoadErr(err)
		s.log.Error("flags: cannot start the flagd provider", logKeySource, s.source, logKeyError, err)
		return err
	}
	return nil
}

// activate starts the flagd provider once the relay holds a configuration: the
// provider's Init waits for the first one, and a provider whose Init failed never
// forwards events again (flagd provider v0.6.0), so it is only started when Init
// can succeed at once. It returns when the first configuration is in force.
func (s *OpenFeature) activate(ctx context.Context) error {
	s.activeMu.Lock()
	defer s.activeMu.Unlock()
	if !s.active {
		p, err := flagd.NewProvider(
			flagd.WithInProcessResolver(),
			flagd.WithOfflineFilePath(""), // FLAGD_OFFLINE_FLAG_SOURCE_PATH would switch to flagd's own file sync
			flagd.WithCustomSyncProviderAndUri(s.relay, s.relay.uri),
			flagd.WithDeadline(int(providerDeadline/time.Millisecond)),
		)
		if err != nil {
			return fmt.Errorf("flags: new flagd provider: %w", err)
		}
		if err := s.api.SetProviderAndWait(ctx, p); err != nil {
			// Replace it with nothing: the next configuration starts a new one.
			_ = s.api.SetProvider(context.WithoutCancel(ctx), openfeature.NoopProvider{})
			return fmt.Errorf("flags: start flagd provider: %w", err)
		}
		s.active = true
	}
	if s.ready.Load() {
		return nil
	}
	// The first load makes the provider report a change of every flag; the
	// Source is ready once that report is handled, so no decision is made before
	// it and dropped by it. Under load the report can be late or (go-sdk event
	// executor) not come at all, so the revision is also read directly every
	// 50ms: refresh is idempotent, a late report only drops the cache again.
	wait, cancel := context.WithTimeout(ctx, providerDeadline)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-s.readyCh:
			return nil
		case <-tick.C:
			if s.refresh(nil); s.ready.Load() {
				return nil
			}
		case <-wait.Done():
			return fmt.Errorf("flags: flagd provider started but holds no configuration: %w", wait.Err())
		}
	}
}

func (s *OpenFeature) keepConfig(rev string, data []byte) {
	s.configMu.Lock()
	defer s.configMu.Unlock()
	for _, c := range s.configs {
		if c.rev == rev {
			return
		}
	}
	s.configs = append(s.configs, revConfig{rev: rev, data: bytes.Clone(data)})
	if len(s.configs) > keptConfigs {
		s.configs = s.configs[len(s.configs)-keptConfigs:]
	}
}

// Offered returns how many valid configurations have been handed to the provider
// and the revision of the last. The count moves before the provider can evaluate
// with a new configuration, so a caller that reads the same count after a Stage as
// at a moment when the last offered revision was in force knows that Stage used it.
func (s *OpenFeature) Offered() (uint64, string) {
	n := s.offered.Load()
	if p := s.offeredRev.Load(); p != nil {
		return n, *p
	}
	return n, ""
}

// Config returns the configuration in force, as read from its source, with its
// revision; "" and nil before the first load. The fleet fence hands it to other
// instances (OpenBytes) so they can evaluate the revision the fleet has applied.
func (s *OpenFeature) Config() (rev string, data []byte) {
	rev = s.Revision()
	if rev == "" {
		return "", nil
	}
	s.configMu.Lock()
	defer s.configMu.Unlock()
	for _, c := range s.configs {
		if c.rev == rev {
			return rev, c.data
		}
	}
	return rev, nil
}

// OpenBytes returns a Source that evaluates one fixed configuration (flagd's JSON
// format), for instance the revision the fleet has applied while this instance has
// loaded a newer one. It is ready when it returns; an invalid configuration is an
// error wrapping ErrInvalidConfig.
func OpenBytes(ctx context.Context, data []byte, log *slog.Logger) (*OpenFeature, error) {
	rev := RevisionOf(data)
	s, err := newOpenFeature(log, "revision "+rev, "hotswap://revision/"+rev, options{})
	if err != nil {
		return nil, err
	}
	if err := s.offer(ctx, data); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("flags: revision %s: %w", rev, err)
	}
	return s, nil
}

func (s *OpenFeature) setLoadErr(err error) {
	if err == nil {
		s.loadErr.Store(nil)
		return
	}
	s.loadErr.Store(&err)
}

// Revision implements Source: the first 16 hex digits of the SHA-256 of the
// configuration in force, as read from the file or received from flagd.
func (s *OpenFeature) Revision() string { return *s.revision.Load() }

// Ready implements Source.
func (s *OpenFeature) Ready() error {
	if s.ready.Load() {
		return nil
	}
	if p := s.loadErr.Load(); p != nil {
		return fmt.Errorf("%w from %s: %w", ErrNotReady, s.source, *p)
	}
	return fmt.Errorf("%w from %s: no configuration yet", ErrNotReady, s.source)
}

// WaitReady waits until a configuration has loaded or ctx ends.
func (s *OpenFeature) WaitReady(ctx context.Context) error {
	select {
	case <-s.readyCh:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("flags: wait for %s: %w (%w)", s.source, ctx.Err(), s.Ready())
	}
}

// Stats implements Source.
func (s *OpenFeature) Stats() Stats {
	hits, n := s.cache.stats()
	return Stats{
		Evaluations: s.evaluations.Load(),
		CacheHits:   hits,
		Fallbacks: Fallbacks{
			MissingFlag:   s.missing.Load(),
			InvalidValue:  s.invalid.Load(),
			ProviderError: s.providerErr.Load(),
			NotReady:      s.notRdy.Load(),
		},
		ConfigChanges: s.changes.Load(),
		Rejected:      s.rejected.Load(),
		CacheEntries:  n,
	}
}

// Close implements Source: it stops watching, then shuts the provider down.
func (s *OpenFeature) Close() error {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	s.cancel()
	s.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s.api.RemoveHandler(openfeature.ProviderConfigChange, s.onChange)
	s.api.RemoveHandler(openfeature.ProviderError, s.onError)
	if err := s.api.Shutdown(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("flags: close %s: %w", s.source, err)
	}
	return nil
}
