package fleet

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"hotswap/flags"
	"hotswap/internal/testutil"
	"hotswap/translate"
)

const testInterval = 100 * time.Millisecond

func stageDoc(tb testing.TB, stage string) []byte {
	tb.Helper()
	variants := map[string]any{}
	for st := translate.StageOff; st <= translate.StageComplete; st++ {
		variants[st.String()] = st.String()
	}
	b, err := json.Marshal(map[string]any{"flags": map[string]any{
		"hotswap.user.stage": map[string]any{"state": "ENABLED", "variants": variants, "defaultVariant": stage},
	}})
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func writeAtomic(tb testing.TB, path string, data []byte) {
	tb.Helper()
	if err := os.WriteFile(path+".tmp", data, 0o644); err != nil {
		tb.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		tb.Fatal(err)
	}
}

type rig struct {
	t       *testing.T
	reg     *Registry
	mapping *translate.Mapping
	fam     *translate.Family
}

func newRig(t *testing.T) *rig {
	t.Helper()
	db := testutil.MustDynamoClient(t, testutil.DynamoEndpoint(t, testutil.Dynalite))
	table := testutil.MustCreateTable(t, db)
	mp := filepath.Join(t.TempDir(), "mapping.yaml")
	if err := os.WriteFile(mp, fmt.Appendf(nil, "table: %s\nfamilies:\n  - name: user\n    match: \"user:{id}\"\n    type: hash\n    pk: \"user#{id}\"\n    sk: \"profile\"\n", table), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := translate.LoadMapping(mp)
	if err != nil {
		t.Fatal(err)
	}
	return &rig{t: t, reg: NewRegistry(db, table), mapping: m, fam: m.Family("user")}
}

type inst struct {
	f           *Fence
	path        string
	outstanding atomic.Int64
}

// start runs an instance whose flag file says stage.
func (r *rig) start(id, stage string) *inst {
	r.t.Helper()
	in := &inst{path: filepath.Join(r.t.TempDir(), "flags.json")}
	writeAtomic(r.t, in.path, stageDoc(r.t, stage))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	src, err := flags.OpenFile(ctx, in.path, nil, flags.WithPollInterval(20*time.Millisecond))
	if err != nil {
		r.t.Fatal(err)
	}
	in.f = New(Options{
		Flags: src, Registry: r.reg, Mapping: r.mapping, ID: id, Interval: testInterval,
		Drain: 50 * time.Millisecond, HoldLimit: 5 * time.Second,
		Outstanding: func(context.Context, func([]byte, *translate.Route) bool) (int, error) {
			return int(in.outstanding.Load()), nil
		},
	})
	in.f.Start(context.Background())
	if err := in.f.WaitReady(ctx); err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { _ = in.f.Close() })
	return in
}

func (in *inst) set(tb testing.TB, stage string) { writeAtomic(tb, in.path, stageDoc(tb, stage)) }

func (r *rig) stage(in *inst) translate.Stage {
	return in.f.Stage(context.Background(), r.fam, []byte("42"))
}

func waitUntil(tb testing.TB, d time.Duration, what string, cond func() bool) time.Duration {
	tb.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > d {
			tb.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}

// TestFence_AuthorityChangeWaitsForTheFleet: two instances; one loads a revision
// that moves entities from shadow to live. Until the other has loaded it too, the
// first keeps serving shadow; then both move, and at no moment does one serve live
// while the other serves shadow.
func TestFence_AuthorityChangeWaitsForTheFleet(t *testing.T) {
	r := newRig(t)
	a := r.start("a", "shadow")
	b := r.start("b", "shadow")
	waitUntil(t, 5*time.Second, "both registered", func() bool {
		return len(a.f.Status().Nodes) == 2 && a.f.Applied() != ""
	})

	// A non-authority change applies at once, without the other instance.
	a.set(t, "dualwrite")
	took := waitUntil(t, 2*time.Second, "dualwrite on a", func() bool { return r.stage(a) == translate.StageDualWrite })
	t.Logf("non-authority change in force after %v", took)
	if took > time.Second {
		t.Errorf("a change within one authority took %v, want within 1s", took)
	}
	a.set(t, "shadow")
	waitUntil(t, 2*time.Second, "shadow on a", func() bool { return r.stage(a) == translate.StageShadow })

	// Watch both instances from here on: never live on one and shadow on the other.
	var split atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			// A paused entity is served by neither store: only two instances
			// both serving, on different authorities, would be a split.
			sa, pa := a.f.serving(r.fam, []byte("42"))
			sb, pb := b.f.serving(r.fam, []byte("42"))
			if !pa && !pb && sa.DynamoAuthoritative() != sb.DynamoAuthoritative() {
				split.Add(1)
			}
			time.Sleep(time.Millisecond)
		}
	})

	a.set(t, "live")
	time.Sleep(10 * testInterval)
	if st := r.stage(a); st != translate.StageShadow {
		t.Fatalf("a serves %v before b loaded the revision, want shadow", st)
	}
	if got := a.f.Status().Pausing; len(got) != 0 {
		t.Fatalf("a pauses %v before the fleet loaded the revision", got)
	}
	b.set(t, "live")
	took = waitUntil(t, 5*time.Second, "live on both", func() bool {
		return r.stage(a) == translate.StageLive && r.stage(b) == translate.StageLive
	})
	t.Logf("authority change in force on both %v after the last instance loaded it", took)
	close(stop)
	wg.Wait()
	if n := split.Load(); n != 0 {
		t.Fatalf("%d samples saw the two instances on different authorities", n)
	}
	if a.f.Applied() != b.f.Applied() || a.f.Applied() != a.f.Revision() {
		t.Fatalf("applied a=%s b=%s loaded %s", a.f.Applied(), b.f.Applied(), a.f.Revision())
	}
}

// TestFence_PauseHoldsAndDrains: the moving entity's commands wait while copies
// are outstanding, and go on when they are done.
func TestFence_PauseHoldsAndDrains(t *testing.T) {
	r := newRig(t)
	a := r.start("a", "shadow")
	waitUntil(t, 5*time.Second, "registered", func() bool { return a.f.Applied() != "" })
	a.outstanding.Store(3)
	a.set(t, "live")
	waitUntil(t, 5*time.Second, "pause", func() bool { return len(a.f.Status().Pausing) == 1 })

	held := make(chan error, 1)
	go func() { held <- a.f.Hold(context.Background(), r.fam, []byte("42")) }()
	select {
	case err := <-held:
		t.Fatalf("Hold returned %v while copies are outstanding", err)
	case <-time.After(5 * testInterval):
	}
	if st := r.stage(a); st != translate.StageShadow {
		t.Fatalf("stage %v during the pause, want shadow", st)
	}
	a.outstanding.Store(0)
	select {
	case err := <-held:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Hold still waiting after the copies drained")
	}
	if st := r.stage(a); st != translate.StageLive {
		t.Fatalf("stage %v after the pause, want live", st)
	}
	waitUntil(t, time.Second, "status published", func() bool { return a.f.Status().Advances == 1 })
	if s := a.f.Status(); s.Holds != 1 {
		t.Fatalf("status %+v", s)
	}
}

// TestFence_DeadInstanceAgesOut: an instance that stops heartbeating (killed)
// stops blocking changes once its heartbeat is older than the TTL.
func TestFence_DeadInstanceAgesOut(t *testing.T) {
	r := newRig(t)
	a := r.start("a", "shadow")
	b := r.start("b", "shadow")
	waitUntil(t, 5*time.Second, "both registered", func() bool { return len(a.f.Status().Nodes) == 2 })
	b.f.cancel() // killed: no more heartbeats, and no clean removal
	b.f.wg.Wait()
	a.set(t, "live")
	took := waitUntil(t, 10*time.Second, "live on a", func() bool { return r.stage(a) == translate.StageLive })
	t.Logf("live after %v (TTL %v)", took, a.f.o.TTL)
	if took < a.f.o.TTL/2 {
		t.Fatalf("moved after %v, before the dead instance aged out", took)
	}
}

// TestFence_JoinMidChange: an instance that starts with a revision the fleet has
// not applied serves the applied one for entities whose authority would move.
func TestFence_JoinMidChange(t *testing.T) {
	r := newRig(t)
	a := r.start("a", "shadow")
	waitUntil(t, 5*time.Second, "registered", func() bool { return a.f.Applied() != "" })
	c := r.start("c", "live")
	if st := r.stage(c); st != translate.StageShadow {
		t.Fatalf("joining instance serves %v, want the fleet's shadow", st)
	}
	a.set(t, "live")
	waitUntil(t, 5*time.Second, "live on both", func() bool {
		return r.stage(a) == translate.StageLive && r.stage(c) == translate.StageLive
	})
}

func TestRegistry_InitAdvance(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	if ok, err := r.reg.Init(ctx, "r1", []byte("c1")); err != nil || !ok {
		t.Fatal(ok, err)
	}
	if ok, err := r.reg.Init(ctx, "r2", []byte("c2")); err != nil || ok {
		t.Fatal("second Init took effect", ok, err)
	}
	if ok, err := r.reg.Advance(ctx, "r0", "r2", []byte("c2")); err != nil || ok {
		t.Fatal("Advance from a stale revision took effect", ok, err)
	}
	if ok, err := r.reg.Advance(ctx, "r1", "r2", []byte("c2")); err != nil || !ok {
		t.Fatal(ok, err)
	}
	n := Node{ID: "x", Loaded: "r2", Applied: "r2", Stages: map[string]Range{"user": {Lo: "dualwrite", Hi: "live"}}, Started: time.Now(), Beat: time.Now(), Seq: 7}
	if err := r.reg.Beat(ctx, n); err != nil {
		t.Fatal(err)
	}
	st, err := r.reg.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Applied != "r2" || string(st.AppliedConfig) != "c2" || len(st.Nodes) != 1 || st.Nodes[0].Seq != 7 || st.Nodes[0].Stages["user"].Hi != "live" {
		t.Fatalf("%+v", st)
	}
	if live := LiveByClock(st.Nodes, time.Now(), time.Second); !live[0].Live {
		t.Fatal("fresh heartbeat not live")
	}
	if live := LiveByClock(st.Nodes, time.Now().Add(time.Minute), time.Second); live[0].Live {
		t.Fatal("old heartbeat live")
	}
	if err := r.reg.Remove(ctx, "x"); err != nil {
		t.Fatal(err)
	}
}

func killDoc(tb testing.TB, stage string, kill bool) []byte {
	tb.Helper()
	var doc map[string]any
	if err := json.Unmarshal(stageDoc(tb, stage), &doc); err != nil {
		tb.Fatal(err)
	}
	v := "off"
	if kill {
		v = "on"
	}
	doc["flags"].(map[string]any)[flags.KillSwitchFlag] = map[string]any{
		"state": "ENABLED", "variants": map[string]any{"on": true, "off": false}, "defaultVariant": v,
	}
	b, err := json.Marshal(doc)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// TestFence_KillSwitch: the flag file's kill switch moves live entities back to
// Redis only as a fenced authority change (never one instance alone); complete stays.
// The admin (local) kill switch moves Redis-authoritative entities to off at once and
// leaves DynamoDB-authoritative ones where the fleet has them.
func TestFence_KillSwitch(t *testing.T) {
	r := newRig(t)
	a := r.start("a", "live")
	b := r.start("b", "live")
	waitUntil(t, 5*time.Second, "both registered", func() bool { return len(a.f.Status().Nodes) == 2 && a.f.Applied() != "" })

	writeAtomic(t, a.path, killDoc(t, "live", true))
	waitUntil(t, 2*time.Second, "a loaded the kill switch", func() bool { return a.f.live.Killed() })
	time.Sleep(5 * testInterval)
	if st := r.stage(a); st != translate.StageLive {
		t.Fatalf("a serves %v with the kill switch loaded by a alone, want live (fenced)", st)
	}
	writeAtomic(t, b.path, killDoc(t, "live", true))
	waitUntil(t, 5*time.Second, "off on both", func() bool {
		return r.stage(a) == translate.StageOff && r.stage(b) == translate.StageOff
	})

	// complete is never switched off: only DynamoDB holds its data.
	writeAtomic(t, a.path, killDoc(t, "complete", true))
	writeAtomic(t, b.path, killDoc(t, "complete", true))
	waitUntil(t, 5*time.Second, "complete on both", func() bool {
		return r.stage(a) == translate.StageComplete && r.stage(b) == translate.StageComplete
	})

	// The local kill switch, in a fleet of its own.
	r2 := newRig(t)
	c := r2.start("c", "shadow")
	d := r2.start("d", "live")
	waitUntil(t, 5*time.Second, "registered", func() bool { return c.f.Applied() != "" && d.f.Applied() != "" })
	c.f.SetLocalKill(true)
	if st := r2.stage(c); st != translate.StageOff {
		t.Fatalf("local kill switch: shadow entity at %v, want off", st)
	}
	c.f.SetLocalKill(false)
	if st := r2.stage(c); st != translate.StageShadow {
		t.Fatalf("local kill switch off: %v, want shadow", st)
	}
	// d joined a fleet at shadow with live loaded: it serves shadow (fenced) until c
	// loads live too; a live entity is left where it is by the local switch.
	c.set(t, "live")
	waitUntil(t, 5*time.Second, "live on both", func() bool { return r2.stage(c) == translate.StageLive && r2.stage(d) == translate.StageLive })
	d.f.SetLocalKill(true)
	if st := r2.stage(d); st != translate.StageLive {
		t.Fatalf("local kill switch moved a live entity to %v alone", st)
	}
}

// TestFence_FleetKillSwitch: the registry's kill switch (the admin endpoint) reaches
// every instance; live entities move back to Redis fenced, never on one instance
// alone; turning it off moves them back to live, fenced too.
func TestFence_FleetKillSwitch(t *testing.T) {
	r := newRig(t)
	a := r.start("a", "live")
	b := r.start("b", "live")
	waitUntil(t, 5*time.Second, "both registered", func() bool { return len(a.f.Status().Nodes) == 2 && a.f.Applied() != "" })
	var split atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			sa, pa := a.f.serving(r.fam, []byte("42"))
			sb, pb := b.f.serving(r.fam, []byte("42"))
			if !pa && !pb && sa.DynamoAuthoritative() != sb.DynamoAuthoritative() {
				split.Add(1)
			}
			time.Sleep(time.Millisecond)
		}
	})
	if _, err := a.f.SetFleetKill(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 5*time.Second, "off on both", func() bool { return r.stage(a) == translate.StageOff && r.stage(b) == translate.StageOff })
	if !b.f.Status().FleetKill {
		t.Fatal("b does not report the fleet kill switch")
	}
	if _, err := b.f.SetFleetKill(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 5*time.Second, "live on both", func() bool { return r.stage(a) == translate.StageLive && r.stage(b) == translate.StageLive })
	close(stop)
	wg.Wait()
	if n := split.Load(); n != 0 {
		t.Fatalf("%d samples saw the instances on different authorities", n)
	}
}
