package fleet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"hotswap/flags"
	"hotswap/translate"
)

// ErrMoving is returned by Hold when an entity's pause outlasts the hold limit.
// The text is a Redis error: TRYAGAIN, which clients treat as retryable.
var ErrMoving = errors.New("TRYAGAIN hotswap: the key's entity is moving between Redis and DynamoDB; retry shortly")

// Defaults of Options.
const (
	DefaultInterval  = time.Second
	DefaultHoldLimit = 2 * time.Second
	DefaultStartWait = 10 * time.Second
)

// Options configure a Fence.
type Options struct {
	// Flags is the instance's flag source: the revision it has loaded.
	Flags *flags.OpenFeature
	// Registry is the fleet registry in the mapping's table.
	Registry *Registry
	// Mapping gives the families (for stage ranges and routing journal keys).
	Mapping *translate.Mapping
	// ID names this instance in the registry (unique in the fleet); Host and
	// Version are shown to operators.
	ID, Host, Version string
	// Interval is the heartbeat and registry read period (DefaultInterval).
	Interval time.Duration
	// TTL: an instance whose heartbeat has not moved for this long is gone
	// (default 5 × Interval).
	TTL time.Duration
	// Drain bounds a command's run time: a command that passed Hold before a pause
	// began has finished Drain later. Set it to the longest backend timeout.
	Drain time.Duration
	// HoldLimit is how long a command waits on a paused entity before it gets
	// ErrMoving (DefaultHoldLimit).
	HoldLimit time.Duration
	// StartWait is how long Ready waits for the first registry read before the
	// instance serves with its own revision applied (DefaultStartWait).
	StartWait time.Duration
	// Outstanding counts the copies not yet made for the keys match selects
	// (dual.Syncer.Outstanding); nil means there are none.
	Outstanding func(ctx context.Context, match func(key []byte, r *translate.Route) bool) (int, error)
	Logger      *slog.Logger
	Now         func() time.Time
}

// Fence is a stage source (proxy.StageSource) that serves each entity at its
// flag's stage, except that a change of authority (a Redis-authoritative stage to
// a DynamoDB-authoritative one, or back) takes effect only when the whole fleet
// has applied the new revision. The protocol, in docs/CONSISTENCY.md:
//
//  1. every instance heartbeats the revision it has loaded (L) and the fleet's
//     applied revision (A) it serves authority by;
//  2. an entity whose authority is the same under A and L is served at its stage
//     under L at once; one whose authority differs stays at its stage under A;
//  3. when every live instance has loaded L, each pauses the entities whose
//     authority differs (Hold), waits Drain for commands already past Hold, and
//     for the journal to hold no copy of those entities, then reports drained;
//  4. when every live instance reports drained, one of them moves the registry's
//     applied revision from A to L (a conditional write); every instance that
//     reads it serves L and lifts the pause.
type Fence struct {
	o       Options
	log     *slog.Logger
	live    *flags.OpenFeature
	state   atomic.Pointer[fstate]
	tracker *Tracker

	// Loop state (the loop goroutine only).
	seq        uint64
	started    time.Time
	drained    string                         // the revision this instance has drained for
	pauseAt    map[string]time.Time           // target revision → when its pause began here
	withdrawn  map[string]time.Time           // committed targets withdrawn → when that beat landed
	ranges     map[[2]string]map[string]Range // (A, L) → family ranges
	lastBeatOK time.Time

	rangesNow atomic.Pointer[map[string]Range] // family → stage range, at the last heartbeat
	// synced is the flag source's offered count while the applied revision is the
	// loaded one, the last offered, and nothing is paused; 0 otherwise (Stage's fast path).
	synced atomic.Uint64
	// localKill is this instance's kill switch (SetLocalKill).
	localKill atomic.Bool
	// fleetKill is the registry's kill switch as last read (State.Kill).
	fleetKill atomic.Bool

	ready    atomic.Bool
	readyCh  chan struct{}
	readyErr atomic.Pointer[error]
	status   atomic.Pointer[Status]

	holds, holdTimeouts, advances, beatErrors, readErrors, pauses atomic.Uint64

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type fstate struct {
	appliedRev string
	applied    *flags.OpenFeature // evaluates the applied revision
	pause      *pause             // nil: nothing paused
}

type pause struct {
	targets []target
	done    chan struct{} // closed when the pause ends
}

type target struct {
	rev       string
	src       *flags.OpenFeature
	committed bool // this instance reported drained for it
}

// Status is the fence's state for /status and `hotswap status --fleet`.
type Status struct {
	ID           string    `json:"id"`
	Loaded       string    `json:"loaded"`
	Applied      string    `json:"applied"`
	Pausing      []string  `json:"pausing,omitempty"`
	Drained      string    `json:"drained,omitempty"`
	Nodes        []Node    `json:"nodes"`
	Holds        uint64    `json:"holds"`
	HoldTimeouts uint64    `json:"hold_timeouts"`
	Advances     uint64    `json:"advances"`
	Pauses       uint64    `json:"pauses"`
	BeatErrors   uint64    `json:"heartbeat_errors"`
	ReadErrors   uint64    `json:"read_errors"`
	LastError    string    `json:"last_error,omitempty"`
	LocalKill    bool      `json:"local_kill_switch,omitempty"`
	FleetKill    bool      `json:"fleet_kill_switch,omitempty"`
	Killed       bool      `json:"kill_switch,omitempty"` // the flag file's, in the loaded revision
	At           time.Time `json:"at"`
}

// New returns a Fence; Start runs it.
func New(o Options) *Fence {
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	if o.TTL <= 0 {
		o.TTL = 5 * o.Interval
	}
	if o.HoldLimit <= 0 {
		o.HoldLimit = DefaultHoldLimit
	}
	if o.StartWait <= 0 {
		o.StartWait = DefaultStartWait
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	f := &Fence{
		o:         o,
		log:       o.Logger.With("component", "fleet"),
		live:      o.Flags,
		tracker:   NewTracker(o.TTL),
		pauseAt:   map[string]time.Time{},
		withdrawn: map[string]time.Time{},
		ranges:    map[[2]string]map[string]Range{},
		readyCh:   make(chan struct{}),
	}
	f.state.Store(&fstate{})
	return f
}

// Start runs the heartbeat loop until Close.
func (f *Fence) Start(ctx context.Context) {
	f.ctx, f.cancel = context.WithCancel(context.WithoutCancel(ctx))
	f.started = f.o.Now()
	f.wg.Go(f.loop)
}

// Close stops the loop, removes this instance's heartbeat and closes the flag
// sources (the instance's own too).
func (f *Fence) Close() error {
	if f.cancel != nil {
		f.cancel()
		f.wg.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := f.o.Registry.Remove(ctx, f.o.ID); err != nil {
			f.log.Warn("fleet: cannot remove this instance's heartbeat; it ages out", "err", err)
		}
	}
	st := f.state.Load()
	if st.applied != nil {
		_ = st.applied.Close()
	}
	if st.pause != nil {
		for _, t := range st.pause.targets {
			_ = t.src.Close()
		}
	}
	return f.live.Close()
}

// Stage implements proxy.StageSource: the stage under the loaded revision when it
// keeps the entity's authority, else the stage under the applied revision.
func (f *Fence) Stage(ctx context.Context, fam *translate.Family, entity []byte) translate.Stage {
	st := f.stage(ctx, fam, entity)
	if f.localKill.Load() && !st.DynamoAuthoritative() {
		// This instance's kill switch: Redis-authoritative entities back to plain
		// pass-through at once (the same authority, so no fence is needed).
		return translate.StageOff
	}
	return st
}

// SetLocalKill turns this instance's kill switch on or off (the admin endpoint).
// It moves every Redis-authoritative entity to off at once; entities served from
// DynamoDB stay where the fleet has them, since moving them back alone would split
// the fleet: the fleet-wide kill switch is the flag file's (flags.KillSwitchFlag),
// which the fence applies to them safely. It returns what it did, in words.
func (f *Fence) SetLocalKill(on bool) string {
	f.localKill.Store(on)
	if !on {
		return "kill switch off on this instance: every family is served at its flag's stage"
	}
	return "kill switch on for this instance: every Redis-authoritative entity is plain pass-through now; " +
		"entities served from DynamoDB (live, rampdown, complete) stay there: set the flag " + flags.KillSwitchFlag +
		" in the flag file to move them back to Redis across the fleet (fenced)"
}

// LocalKill reports whether this instance's kill switch is on.
func (f *Fence) LocalKill() bool { return f.localKill.Load() }

func (f *Fence) stage(ctx context.Context, fam *translate.Family, entity []byte) translate.Stage {
	sL := f.live.Stage(ctx, fam, entity)
	// In step (the applied revision is the loaded one and no configuration has been
	// offered since): the applied revision gives the same stage. The count is read
	// after the evaluation, so an evaluation under a newer configuration sees it moved.
	if n, _ := f.live.Offered(); n == f.synced.Load() {
		return sL
	}
	st := f.state.Load()
	if st.applied == nil {
		return sL
	}
	sA := st.applied.Stage(ctx, fam, entity)
	if sA.DynamoAuthoritative() == sL.DynamoAuthoritative() {
		return sL
	}
	return sA
}

// Hold waits while the entity's authority is moving (step 3 of the protocol),
// up to the hold limit; then it returns ErrMoving. It costs one atomic load when
// nothing is paused.
func (f *Fence) Hold(ctx context.Context, fam *translate.Family, entity []byte) error {
	st := f.state.Load()
	if st.pause == nil || !st.moving(ctx, fam, entity) {
		return nil
	}
	f.holds.Add(1)
	t := time.NewTimer(f.o.HoldLimit)
	defer t.Stop()
	select {
	case <-st.pause.done:
		return nil
	case <-t.C:
		f.holdTimeouts.Add(1)
		return ErrMoving
	case <-ctx.Done():
		return fmt.Errorf("ERR hotswap: stopping while the key's entity moves between stores: %w", ctx.Err())
	}
}

// serving is the stage the entity is served at and whether it is paused (Hold
// would wait), read from one state.
func (f *Fence) serving(fam *translate.Family, entity []byte) (translate.Stage, bool) {
	ctx := context.Background()
	st := f.state.Load()
	sL := f.live.Stage(ctx, fam, entity)
	if st.applied == nil {
		return sL, false
	}
	sA := st.applied.Stage(ctx, fam, entity)
	paused := st.moving(ctx, fam, entity)
	if sA.DynamoAuthoritative() == sL.DynamoAuthoritative() {
		return sL, paused
	}
	return sA, paused
}

// moving: the entity's authority differs between the applied revision and a
// paused target.
func (st *fstate) moving(ctx context.Context, fam *translate.Family, entity []byte) bool {
	if st.applied == nil || st.pause == nil {
		return false
	}
	a := st.applied.Stage(ctx, fam, entity).DynamoAuthoritative()
	for _, t := range st.pause.targets {
		if t.src.Stage(ctx, fam, entity).DynamoAuthoritative() != a {
			return true
		}
	}
	return false
}

// MaxStage is the highest stage an entity of fam can be served at, from the flag
// definitions of the loaded and applied revisions (StageComplete when not known
// yet). It implements proxy.StageRanger.
func (f *Fence) MaxStage(fam *translate.Family) translate.Stage {
	p := f.rangesNow.Load()
	if p == nil {
		return translate.StageComplete
	}
	r, ok := (*p)[fam.Name]
	if !ok {
		return translate.StageComplete
	}
	st, err := translate.ParseStage(r.Hi)
	if err != nil {
		return translate.StageComplete
	}
	return st
}

// Revision is the loaded revision.
func (f *Fence) Revision() string { return f.live.Revision() }

// Applied is the fleet's applied revision as this instance knows it.
func (f *Fence) Applied() string { return f.state.Load().appliedRev }

// Stats are the flag source's.
func (f *Fence) Stats() flags.Stats { return f.live.Stats() }

// Ready is nil once flags have loaded and the registry has been read once (or
// StartWait has passed without it).
func (f *Fence) Ready() error {
	if err := f.live.Ready(); err != nil {
		return err
	}
	if f.ready.Load() {
		return nil
	}
	if p := f.readyErr.Load(); p != nil {
		return fmt.Errorf("%w: fleet registry: %w", flags.ErrNotReady, *p)
	}
	return fmt.Errorf("%w: fleet registry not read yet", flags.ErrNotReady)
}

// WaitReady waits until Ready is nil or ctx ends.
func (f *Fence) WaitReady(ctx context.Context) error {
	select {
	case <-f.readyCh:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("fleet: wait: %w (%w)", ctx.Err(), f.Ready())
	}
}

// Status returns the state at the last tick.
func (f *Fence) Status() Status {
	if p := f.status.Load(); p != nil {
		return *p
	}
	return Status{ID: f.o.ID}
}

func (f *Fence) loop() {
	t := time.NewTicker(f.o.Interval)
	defer t.Stop()
	for {
		f.tick(f.ctx)
		select {
		case <-f.ctx.Done():
			return
		case <-t.C:
		}
	}
}

// callCtx bounds one registry call.
func (f *Fence) callCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, max(f.o.Interval, time.Second))
}

func (f *Fence) beat(ctx context.Context, now time.Time, loaded string) error {
	st := f.state.Load()
	f.seq++
	ranges := f.stageRanges(st, loaded)
	f.rangesNow.Store(&ranges)
	n := Node{
		ID: f.o.ID, Host: f.o.Host, Version: f.o.Version,
		Loaded: loaded, Applied: st.appliedRev, Drained: f.drained,
		Stages: ranges, Started: f.started, Beat: now, Seq: f.seq,
	}
	cctx, cancel := f.callCtx(ctx)
	defer cancel()
	if err := f.o.Registry.Beat(cctx, n); err != nil {
		f.beatErrors.Add(1)
		return err
	}
	f.lastBeatOK = now
	for rev, at := range f.withdrawn {
		if at.IsZero() {
			f.withdrawn[rev] = now
		}
	}
	return nil
}

func (f *Fence) tick(ctx context.Context) {
	now := f.o.Now()
	loaded, cfg := f.loadedRevision()
	var lastErr error
	if err := f.beat(ctx, now, loaded); err != nil {
		lastErr = err
	}
	readStart := f.o.Now()
	cctx, cancel := f.callCtx(ctx)
	reg, err := f.o.Registry.Read(cctx)
	cancel()
	if err != nil {
		f.readErrors.Add(1)
		f.fail(err, now, loaded, cfg)
		f.publish(loaded, nil, err)
		return
	}
	if reg.Kill != f.fleetKill.Load() {
		// The fast path must not serve a stage from before the switch: it is off
		// from here until the fence has the new revision applied.
		f.synced.Store(0)
		f.fleetKill.Store(reg.Kill)
		f.live.SetKillOverride(reg.Kill)
		f.log.Warn("fleet: kill switch", "on", reg.Kill)
		loaded, cfg = f.loadedRevision()
	}
	nodes := f.tracker.Observe(reg.Nodes, now)
	if reg.Applied == "" {
		if loaded == "" || cfg == nil {
			f.publish(loaded, nodes, lastErr)
			return // nothing to record yet
		}
		cctx, cancel := f.callCtx(ctx)
		_, err := f.o.Registry.Init(cctx, loaded, cfg)
		cancel()
		if err != nil {
			f.fail(err, now, loaded, cfg)
			f.publish(loaded, nodes, err)
			return
		}
		f.publish(loaded, nodes, lastErr)
		return // the next read sees what was recorded (this one or another's)
	}
	if reg.Applied != f.state.Load().appliedRev {
		if err := f.apply(ctx, reg.Applied, reg.AppliedConfig); err != nil {
			f.publish(loaded, nodes, err)
			return
		}
	}
	f.markReady()
	f.step(ctx, now, readStart, loaded, cfg, nodes)
	f.updateSynced()
	f.publish(loaded, nodes, lastErr)
}

// updateSynced sets or clears Stage's fast path.
func (f *Fence) updateSynced() {
	n, rev := f.live.Offered()
	st := f.state.Load()
	if n > 0 && rev != "" && !f.fleetKill.Load() && rev == st.appliedRev && rev == f.live.Revision() && st.pause == nil && st.applied != nil {
		f.synced.Store(n)
		return
	}
	f.synced.Store(0)
}

// fail handles a registry error: before the first read, the instance waits up to
// StartWait and then serves with its own revision applied (logged: an instance
// that cannot reach the registry cannot be fenced).
func (f *Fence) fail(err error, now time.Time, loaded string, cfg []byte) {
	if f.ready.Load() {
		return
	}
	f.readyErr.Store(&err)
	if now.Sub(f.started) < f.o.StartWait || loaded == "" {
		return
	}
	f.log.Error("fleet: registry unreadable at start: serving with this instance's flag revision applied; authority changes are not fenced until it answers",
		"revision", loaded, "err", err)
	if aerr := f.apply(f.ctx, loaded, cfg); aerr == nil {
		f.markReady()
	}
}

func (f *Fence) markReady() {
	if !f.ready.Swap(true) {
		close(f.readyCh)
	}
}

// apply makes rev the applied revision here and ends any pause.
func (f *Fence) apply(ctx context.Context, rev string, cfg []byte) error {
	old := f.state.Load()
	var src *flags.OpenFeature
	if old.pause != nil {
		for _, t := range old.pause.targets {
			if t.rev == rev {
				src = t.src
			}
		}
	}
	if src == nil {
		if len(cfg) == 0 {
			return fmt.Errorf("fleet: applied revision %s has no configuration in the registry", rev)
		}
		var err error
		if src, err = openRevision(ctx, rev, cfg, f.o.Logger); err != nil {
			return fmt.Errorf("fleet: applied revision %s: %w", rev, err)
		}
	}
	f.state.Store(&fstate{appliedRev: rev, applied: src})
	if old.pause != nil {
		close(old.pause.done)
		for _, t := range old.pause.targets {
			if t.src != src {
				_ = t.src.Close()
			}
		}
	}
	if old.applied != nil && old.applied != src {
		_ = old.applied.Close()
	}
	if old.appliedRev != "" {
		f.log.Info("fleet: revision applied", "revision", rev, "previous", old.appliedRev)
	}
	f.drained = ""
	clear(f.pauseAt)
	clear(f.withdrawn)
	return nil
}

// step runs steps 3 and 4 of the protocol for the loaded revision.
func (f *Fence) step(ctx context.Context, now, readStart time.Time, loaded string, cfg []byte, nodes []Node) {
	st := f.state.Load()
	// Withdraw targets the instance no longer has loaded. A committed one stays
	// paused until a read that began Drain after the withdrawing heartbeat still
	// shows the old revision applied: by then no instance can be advancing to it.
	if st.pause != nil {
		var keep []target
		for _, t := range st.pause.targets {
			switch {
			case t.rev == loaded:
				keep = append(keep, t)
			case !t.committed:
				_ = t.src.Close()
			default:
				at, ok := f.withdrawn[t.rev]
				if !ok {
					f.withdrawn[t.rev] = time.Time{} // set when the next heartbeat lands
					keep = append(keep, t)
				} else if at.IsZero() || readStart.Sub(at) < max(f.o.Drain, time.Second) {
					keep = append(keep, t)
				} else {
					delete(f.withdrawn, t.rev)
					_ = t.src.Close()
				}
			}
		}
		if f.drained != "" && f.drained != loaded {
			f.drained = ""
		}
		st = f.setTargets(st, keep)
	}
	if loaded == "" || loaded == st.appliedRev || cfg == nil {
		return
	}
	live := liveNodes(nodes)
	if !f.selfIn(live, now) || !all(live, func(n Node) bool { return n.Loaded == loaded }) {
		return
	}
	// Every live instance has loaded it: pause what moves.
	if !st.hasTarget(loaded) {
		src, err := openRevision(ctx, loaded, cfg, f.o.Logger)
		if err != nil {
			f.log.Error("fleet: cannot evaluate the loaded revision for the fence", "revision", loaded, "err", err)
			return
		}
		var targets []target
		if st.pause != nil {
			targets = slices.Clone(st.pause.targets)
		}
		st = f.setTargets(st, append(targets, target{rev: loaded, src: src}))
		f.pauseAt[loaded] = now
		f.pauses.Add(1)
		f.log.Info("fleet: every instance has loaded the revision: pausing entities that change authority", "revision", loaded, "applied", st.appliedRev)
	}
	if f.drained != loaded {
		if now.Sub(f.pauseAt[loaded]) < f.o.Drain {
			return
		}
		n, err := f.outstanding(ctx, st, loaded)
		if err != nil {
			f.log.Warn("fleet: cannot count outstanding copies; the pause goes on", "err", err)
			return
		}
		if n > 0 {
			f.log.Info("fleet: waiting for copies of moving entities", "revision", loaded, "outstanding", n)
			return
		}
		f.drained = loaded
		st = f.commit(st, loaded)
		if err := f.beat(ctx, f.o.Now(), loaded); err != nil {
			return
		}
	}
	// Our own drained report is the one just written; the others' come from the read.
	for _, n := range live {
		if n.ID != f.o.ID && (n.Loaded != loaded || n.Drained != loaded) {
			return
		}
	}
	cctx, cancel := f.callCtx(ctx)
	ok, err := f.o.Registry.Advance(cctx, st.appliedRev, loaded, cfg)
	cancel()
	if err != nil {
		f.log.Warn("fleet: cannot advance the applied revision", "err", err)
		return
	}
	if ok {
		f.advances.Add(1)
		f.log.Info("fleet: every instance drained: revision applied fleet-wide", "revision", loaded, "previous", st.appliedRev)
		if err := f.apply(ctx, loaded, cfg); err != nil {
			f.log.Error("fleet: apply", "err", err)
		}
	}
}

// killSuffix marks a revision loaded with the fleet's kill switch on: the same
// configuration, every family at off (complete excepted).
const killSuffix = "+kill"

// openRevision evaluates a revision (with the kill switch when it says so).
func openRevision(ctx context.Context, rev string, cfg []byte, log *slog.Logger) (*flags.OpenFeature, error) {
	src, err := flags.OpenBytes(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	src.SetKillOverride(strings.HasSuffix(rev, killSuffix))
	return src, nil
}

// loadedRevision is the revision this instance has loaded: the flag source's, with
// the fleet's kill switch.
func (f *Fence) loadedRevision() (string, []byte) {
	rev, cfg := f.live.Config()
	if rev != "" && f.fleetKill.Load() {
		rev += killSuffix
	}
	return rev, cfg
}

// SetFleetKill turns the fleet's kill switch on or off through the registry (the
// admin endpoint). Every instance applies it at its next heartbeat: entities in
// Redis-authoritative stages go to off at once, entities served from DynamoDB move
// back through the fence, complete excepted. It returns what it did, in words.
func (f *Fence) SetFleetKill(ctx context.Context, on bool) (string, error) {
	cctx, cancel := f.callCtx(ctx)
	defer cancel()
	if err := f.o.Registry.SetKill(cctx, on, f.o.ID); err != nil {
		return "", err
	}
	if !on {
		return "kill switch off for the fleet: every family goes back to its flag's stage (changes of authority fenced)", nil
	}
	return "kill switch on for the fleet: every instance serves Redis-authoritative entities at off within a heartbeat; " +
		"entities served from DynamoDB (live, rampdown) move back to Redis through the fence; complete stays (only DynamoDB holds it)", nil
}

func (st *fstate) hasTarget(rev string) bool {
	if st.pause == nil {
		return false
	}
	for _, t := range st.pause.targets {
		if t.rev == rev {
			return true
		}
	}
	return false
}

// setTargets publishes a state with the given pause targets (the pause and its
// done channel carry over while any target remains).
func (f *Fence) setTargets(st *fstate, targets []target) *fstate {
	next := &fstate{appliedRev: st.appliedRev, applied: st.applied}
	switch {
	case len(targets) == 0 && st.pause == nil:
		return st
	case len(targets) == 0:
		f.state.Store(next)
		close(st.pause.done)
		return next
	case st.pause == nil:
		next.pause = &pause{targets: targets, done: make(chan struct{})}
	default:
		next.pause = &pause{targets: targets, done: st.pause.done}
	}
	f.state.Store(next)
	return next
}

func (f *Fence) commit(st *fstate, rev string) *fstate {
	targets := slices.Clone(st.pause.targets)
	for i := range targets {
		if targets[i].rev == rev {
			targets[i].committed = true
		}
	}
	return f.setTargets(st, targets)
}

// outstanding counts the copies not yet made for entities that move under rev.
func (f *Fence) outstanding(ctx context.Context, st *fstate, rev string) (int, error) {
	if f.o.Outstanding == nil {
		return 0, nil
	}
	var src *flags.OpenFeature
	for _, t := range st.pause.targets {
		if t.rev == rev {
			src = t.src
		}
	}
	// Bounded well inside the liveness window: the heartbeat must go on while
	// copies drain (what is left counts, and the next tick goes on with it).
	cctx, cancel := context.WithTimeout(ctx, max(f.o.Interval, 200*time.Millisecond))
	defer cancel()
	// Stages are evaluated without the deadline: a cut-short evaluation must not
	// class a moving entity as staying.
	return f.o.Outstanding(cctx, func(_ []byte, r *translate.Route) bool {
		if r.Family == nil {
			return false
		}
		return st.applied.Stage(ctx, r.Family, r.Entity).DynamoAuthoritative() !=
			src.Stage(ctx, r.Family, r.Entity).DynamoAuthoritative()
	})
}

// selfIn: this instance's last heartbeat landed this tick and is in the read.
func (f *Fence) selfIn(live []Node, now time.Time) bool {
	if !f.lastBeatOK.Equal(now) {
		return false
	}
	for _, n := range live {
		if n.ID == f.o.ID {
			return true
		}
	}
	return false
}

func liveNodes(nodes []Node) []Node {
	var out []Node
	for _, n := range nodes {
		if n.Live {
			out = append(out, n)
		}
	}
	return out
}

func all(nodes []Node, pred func(Node) bool) bool {
	for _, n := range nodes {
		if !pred(n) {
			return false
		}
	}
	return true
}

// stageRanges gives each family's stage range over the applied and the loaded
// revision (what this instance may serve), raised to the floor.
func (f *Fence) stageRanges(st *fstate, loaded string) map[string]Range {
	if f.o.Mapping == nil {
		return nil
	}
	k := [2]string{st.appliedRev, loaded}
	if r, ok := f.ranges[k]; ok {
		return r
	}
	var cfgs [][]byte
	if _, c := f.live.Config(); c != nil {
		cfgs = append(cfgs, c)
	}
	if st.applied != nil {
		if _, c := st.applied.Config(); c != nil {
			cfgs = append(cfgs, c)
		}
	}
	out := make(map[string]Range, len(f.o.Mapping.Families))
	for _, fam := range f.o.Mapping.Families {
		lo, hi := translate.StageComplete, translate.StageOff
		known := false
		for _, c := range cfgs {
			l, h, ok, err := flags.StageRange(c, fam.Flag)
			if err != nil || !ok {
				l, h = translate.StageOff, translate.StageComplete // unknown: anything
			}
			lo, hi, known = min(lo, l), max(hi, h), true
		}
		if !known {
			lo, hi = translate.StageOff, translate.StageComplete
		}
		if f.fleetKill.Load() || f.live.Killed() {
			lo = translate.StageOff // the kill switch moves entities to off
		}
		out[fam.Name] = Range{Lo: max(lo, fam.Floor).String(), Hi: max(hi, fam.Floor).String()}
	}
	if len(f.ranges) > 16 {
		clear(f.ranges)
	}
	f.ranges[k] = out
	return out
}

func (f *Fence) publish(loaded string, nodes []Node, err error) {
	st := f.state.Load()
	s := Status{
		ID: f.o.ID, Loaded: loaded, Applied: st.appliedRev, Drained: f.drained, Nodes: nodes,
		Holds: f.holds.Load(), HoldTimeouts: f.holdTimeouts.Load(), Advances: f.advances.Load(),
		Pauses: f.pauses.Load(), BeatErrors: f.beatErrors.Load(), ReadErrors: f.readErrors.Load(),
		At: f.o.Now(), LocalKill: f.localKill.Load(), FleetKill: f.fleetKill.Load(), Killed: f.live.Killed(),
	}
	if nodes == nil {
		if p := f.status.Load(); p != nil {
			s.Nodes = p.Nodes
		}
	}
	if st.pause != nil {
		for _, t := range st.pause.targets {
			s.Pausing = append(s.Pausing, t.rev)
		}
	}
	if err != nil {
		s.LastError = err.Error()
	}
	f.status.Store(&s)
}
