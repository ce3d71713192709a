package flags

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"hotswap/translate"
)

const userSeed = "hotswap-user-v1/"

func ramp25(tb testing.TB) []byte {
	return flagDoc(tb, map[string]any{
		userFamily.Flag: rampFlag(userSeed, map[translate.Stage]int{translate.StageOff: 75, translate.StageDualWrite: 25}),
	})
}

func TestOpenFile_Example(t *testing.T) {
	// The example shipped in deploy/ loads, and gives its families stages.
	s := MustOpenFile(t, filepath.Join("..", "deploy", "examples", "flags.json"))
	if err := s.Ready(); err != nil {
		t.Fatal(err)
	}
	stages(s, userFamily, 100)
	if fb := s.Stats().Fallbacks; fb.Total() != 0 {
		t.Fatalf("fallbacks: %+v", fb)
	}
	data, err := os.ReadFile(filepath.Join("..", "deploy", "examples", "flags.json"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.Revision(), revisionOf(data); got != want {
		t.Fatalf("revision %q, want %q", got, want)
	}
}

func TestOpenFile_Fractional(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flags.json")
	MustWriteAtomic(t, path, ramp25(t))
	s := MustOpenFile(t, path)
	if err := s.Ready(); err != nil {
		t.Fatalf("not ready after OpenFile on a valid file: %v", err)
	}
	const n = 10_000
	st := stages(s, userFamily, n)
	dual := count(st, translate.StageDualWrite)
	if off := count(st, translate.StageOff); off+dual != n {
		t.Fatalf("%d off + %d dualwrite != %d", off, dual, n)
	}
	if frac := float64(dual) / n; frac < 0.23 || frac > 0.27 {
		t.Fatalf("%d of %d entities (%.2f%%) in dualwrite, want 25%% ± 2%%", dual, n, 100*frac)
	}
	t.Logf("%d of %d entities in dualwrite", dual, n)

	// Asked again, from the cache, every entity gets the same answer.
	before := s.Stats()
	if again := stages(s, userFamily, n); !equalStages(st, again) {
		t.Fatal("second pass differs")
	}
	after := s.Stats()
	if after.CacheHits-before.CacheHits != n || after.Evaluations != before.Evaluations {
		t.Fatalf("second pass: %d hits, %d evaluations; want %d hits, none", after.CacheHits-before.CacheHits,
			after.Evaluations-before.Evaluations, n)
	}
}

func equalStages(a, b []translate.Stage) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestOpenFile_TwoInstances(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flags.json")
	MustWriteAtomic(t, path, flagDoc(t, map[string]any{
		userFamily.Flag: rampFlag(userSeed, map[translate.Stage]int{
			translate.StageOff: 40, translate.StageDualWrite: 30, translate.StageShadow: 20, translate.StageLive: 10,
		}),
	}))
	a, b := MustOpenFile(t, path), MustOpenFile(t, path)
	if a.Revision() != b.Revision() {
		t.Fatalf("revisions %q and %q", a.Revision(), b.Revision())
	}
	const n = 10_000
	sa, sb := stages(a, userFamily, n), stages(b, userFamily, n)
	for i := range sa {
		if sa[i] != sb[i] {
			t.Fatalf("entity %s: %s in one instance, %s in the other", entity(i), sa[i], sb[i])
		}
	}
	for st := translate.StageOff; st <= translate.StageLive; st++ {
		t.Logf("%s: %d", st, count(sa, st))
	}
}

func TestOpenFile_SharedSeed(t *testing.T) {
	// Two flags with the same seed (and the same weights) bucket every entity the
	// same way; a flag with another seed does not.
	other := &translate.Family{Name: "email", Flag: "hotswap.email.stage"}
	w := map[translate.Stage]int{translate.StageOff: 50, translate.StageDualWrite: 50}
	path := filepath.Join(t.TempDir(), "flags.json")
	MustWriteAtomic(t, path, flagDoc(t, map[string]any{
		userFamily.Flag: rampFlag(userSeed, w),
		teamFamily.Flag: rampFlag(userSeed, w),
		other.Flag:      rampFlag("hotswap-email-v1/", w),
	}))
	s := MustOpenFile(t, path)
	const n = 10_000
	user, team, email := stages(s, userFamily, n), stages(s, teamFamily, n), stages(s, other, n)
	if !equalStages(user, team) {
		t.Fatal("two flags with one seed bucket entities differently")
	}
	same := 0
	for i := range user {
		if user[i] == email[i] {
			same++
		}
	}
	// Independent 50/50 buckets agree about half the time.
	if same > n*55/100 || same < n*45/100 {
		t.Fatalf("flags with different seeds agree on %d of %d entities, want about half", same, n)
	}
}

func TestOpenFile_RampUp(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flags.json")
	MustWriteAtomic(t, path, ramp25(t))
	s := MustOpenFile(t, path)
	const n = 10_000
	before := stages(s, userFamily, n)
	rev := s.Revision()

	MustWriteAtomic(t, path, flagDoc(t, map[string]any{
		userFamily.Flag: rampFlag(userSeed, map[translate.Stage]int{translate.StageOff: 50, translate.StageDualWrite: 50}),
	}))
	_, took := MustWaitRevision(t, s, rev)
	t.Logf("25%% -> 50%%: new revision in force after %v", took)
	after := stages(s, userFamily, n)
	for i := range before {
		if after[i] < before[i] {
			t.Fatalf("entity %s moved back from %s to %s", entity(i), before[i], after[i])
		}
	}
	dual := count(after, translate.StageDualWrite)
	if dual < n*48/100 || dual > n*52/100 {
		t.Fatalf("%d of %d in dualwrite after the ramp, want 50%% ± 2%%", dual, n)
	}
	if got := s.Stats().ConfigChanges; got != 1 {
		t.Fatalf("%d configuration changes counted, want 1", got)
	}
}

func TestOpenFile_Floor(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flags.json")
	MustWriteAtomic(t, path, ramp25(t))
	s := MustOpenFile(t, path)
	floored := &translate.Family{Name: "user-teams", Flag: userFamily.Flag, Floor: translate.StageShadow}
	const n = 2_000
	raw := stages(s, userFamily, n)
	got := stages(s, floored, n)
	for i := range got {
		if want := max(raw[i], translate.StageShadow); got[i] != want {
			t.Fatalf("entity %s: %s with floor shadow, want %s", entity(i), got[i], want)
		}
	}
	// A floor below the evaluation changes nothing.
	MustWriteAtomic(t, path, flagDoc(t, map[string]any{userFamily.Flag: staticFlag(allVariants(), "live")}))
	MustWaitRevision(t, s, s.Revision())
	if st := s.Stage(context.Background(), floored, entity(1)); st != translate.StageLive {
		t.Fatalf("live flag, floor shadow: got %s", st)
	}
}

// TestOpenFile_Trouble breaks the flag in each way the issue lists and checks
// that every entity keeps its last good stage, that an entity never seen gets
// its family's floor, and that the trouble is counted.
func TestOpenFile_Trouble(t *testing.T) {
	good := func(tb testing.TB) []byte {
		return flagDoc(tb, map[string]any{userFamily.Flag: staticFlag(allVariants(), "shadow")})
	}
	withFloor := &translate.Family{Name: "user", Flag: userFamily.Flag, Floor: translate.StageDualWrite}
	tests := []struct {
		name     string
		data     func(testing.TB) []byte
		refused  bool // the configuration is refused as a whole
		counter  func(Stats) uint64
		newStage translate.Stage // for an entity never seen before
	}{
		{
			name: "missing flag",
			data: func(tb testing.TB) []byte {
				return flagDoc(tb, map[string]any{teamFamily.Flag: staticFlag(allVariants(), "live")})
			},
			counter: func(s Stats) uint64 { return s.Fallbacks.MissingFlag },
		},
		{
			name: "disabled flag",
			data: func(tb testing.TB) []byte {
				f := staticFlag(allVariants(), "live")
				f["state"] = "DISABLED"
				return flagDoc(tb, map[string]any{userFamily.Flag: f})
			},
			counter: func(s Stats) uint64 { return s.Fallbacks.MissingFlag },
		},
		{
			name: "invalid variant",
			data: func(tb testing.TB) []byte {
				return flagDoc(tb, map[string]any{userFamily.Flag: staticFlag(map[string]any{"on": "livee"}, "on")})
			},
			counter: func(s Stats) uint64 { return s.Fallbacks.InvalidValue },
		},
		{
			name: "variant not a string",
			data: func(tb testing.TB) []byte {
				return flagDoc(tb, map[string]any{userFamily.Flag: staticFlag(map[string]any{"on": 3}, "on")})
			},
			counter: func(s Stats) uint64 { return s.Fallbacks.InvalidValue },
		},
		{
			name:    "empty file",
			data:    func(testing.TB) []byte { return nil },
			refused: true,
		},
		{
			name:    "truncated file",
			data:    func(tb testing.TB) []byte { d := good(tb); return d[:len(d)/2] },
			refused: true,
		},
		{
			name:    "malformed JSON",
			data:    func(testing.TB) []byte { return []byte(`{"flags": {"hotswap.user.stage": {"state": "ENABLED",}}}`) },
			refused: true,
		},
		{
			name:    "not flagd's format",
			data:    func(testing.TB) []byte { return []byte(`{"flags": {"hotswap.user.stage": "live"}}`) },
			refused: true,
		},
		{
			name:    "no flags object",
			data:    func(testing.TB) []byte { return []byte(`{"flag": {}}`) },
			refused: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "flags.json")
			MustWriteAtomic(t, path, good(t))
			s := MustOpenFile(t, path)
			const n = 100
			for i := range n {
				if st := s.Stage(context.Background(), userFamily, entity(i)); st != translate.StageShadow {
					t.Fatalf("before: %s, want shadow", st)
				}
			}
			rev := s.Revision()
			MustWriteAtomic(t, path, tt.data(t))
			if tt.refused {
				waitFor(t, func() bool { return s.Stats().Rejected > 0 })
				if s.Revision() != rev {
					t.Fatalf("revision moved to %q on a refused file", s.Revision())
				}
			} else {
				MustWaitRevision(t, s, rev)
			}
			for i := range n {
				if st := s.Stage(context.Background(), userFamily, entity(i)); st != translate.StageShadow {
					t.Fatalf("after: entity %s at %s, want its last stage shadow", entity(i), st)
				}
			}
			// Never seen: the refused file leaves the good one in force; otherwise
			// the floor.
			want := tt.newStage
			if tt.refused {
				want = translate.StageShadow
			}
			if st := s.Stage(context.Background(), withFloor, []byte("new")); st != max(want, withFloor.Floor) {
				t.Fatalf("new entity: %s, want %s", st, max(want, withFloor.Floor))
			}
			stats := s.Stats()
			if tt.counter != nil {
				// One per entity, not per lookup: the fallback is cached.
				if got := tt.counter(stats); got != n+1 {
					t.Fatalf("%d fallbacks counted, want %d: %+v", got, n+1, stats)
				}
				before := tt.counter(stats)
				stages(s, userFamily, n)
				if got := tt.counter(s.Stats()); got != before {
					t.Fatalf("cached fallbacks counted again: %d, then %d", before, got)
				}
			}
			if tt.refused && stats.Fallbacks.Total() != 0 {
				t.Fatalf("fallbacks on a refused file: %+v", stats.Fallbacks)
			}

			// Putting the file right takes effect.
			MustWriteAtomic(t, path, flagDoc(t, map[string]any{userFamily.Flag: staticFlag(allVariants(), "live")}))
			MustWaitRevision(t, s, s.Revision())
			if st := s.Stage(context.Background(), userFamily, entity(1)); st != translate.StageLive {
				t.Fatalf("after the fix: %s, want live", st)
			}
		})
	}
}

func waitFor(tb testing.TB, cond func() bool) time.Duration {
	tb.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > 5*time.Second {
			tb.Fatal("condition not met after 5s")
		}
		time.Sleep(time.Millisecond)
	}
	return time.Since(start)
}

func TestOpenFile_NotReady(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flags.json")
	s := MustOpenFile(t, path)
	err := s.Ready()
	if !errors.Is(err, ErrNotReady) || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Ready() = %v, want ErrNotReady and ErrNotExist", err)
	}
	t.Logf("Ready() = %v", err)
	if s.Revision() != "" {
		t.Fatalf("revision %q before the first load", s.Revision())
	}
	floored := &translate.Family{Name: "user", Flag: userFamily.Flag, Floor: translate.StageDualWrite}
	if st := s.Stage(context.Background(), floored, entity(1)); st != translate.StageDualWrite {
		t.Fatalf("not ready: %s, want the floor", st)
	}
	if got := s.Stats().Fallbacks.NotReady; got != 1 {
		t.Fatalf("%d not-ready fallbacks, want 1", got)
	}

	// An invalid file does not make it ready either.
	if err := os.WriteFile(path, []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return errors.Is(s.Ready(), ErrInvalidConfig) })

	start := time.Now()
	MustWriteAtomic(t, path, flagDoc(t, map[string]any{userFamily.Flag: staticFlag(allVariants(), "live")}))
	took := waitFor(t, func() bool { return s.Ready() == nil })
	t.Logf("ready %v after the file appeared", time.Since(start))
	if took > time.Second {
		t.Fatalf("ready after %v, want within 1s", took)
	}
	if st := s.Stage(context.Background(), floored, entity(1)); st != translate.StageLive {
		t.Fatalf("ready: %s, want live", st)
	}

	// Deleting the file keeps the configuration in force.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * DefaultPollInterval)
	if err := s.Ready(); err != nil {
		t.Fatalf("Ready() = %v after the file was deleted", err)
	}
	if st := s.Stage(context.Background(), floored, entity(2)); st != translate.StageLive {
		t.Fatalf("file deleted: %s, want live", st)
	}
}

func TestOpenFile_ChangeDropsOnlyChangedFlags(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flags.json")
	doc := func(team string) []byte {
		return flagDoc(t, map[string]any{
			userFamily.Flag: staticFlag(allVariants(), "dualwrite"),
			teamFamily.Flag: staticFlag(allVariants(), team),
		})
	}
	MustWriteAtomic(t, path, doc("off"))
	s := MustOpenFile(t, path)
	const n = 500
	stages(s, userFamily, n)
	stages(s, teamFamily, n)
	MustWriteAtomic(t, path, doc("shadow"))
	MustWaitRevision(t, s, s.Revision())
	before := s.Stats().Evaluations
	if got := count(stages(s, userFamily, n), translate.StageDualWrite); got != n {
		t.Fatalf("%d of %d user entities in dualwrite", got, n)
	}
	if got := s.Stats().Evaluations - before; got != 0 {
		t.Fatalf("unchanged flag re-evaluated %d times", got)
	}
	if got := count(stages(s, teamFamily, n), translate.StageShadow); got != n {
		t.Fatalf("%d of %d team entities in shadow", got, n)
	}
	if got := s.Stats().Evaluations - before; got != n {
		t.Fatalf("changed flag evaluated %d times, want %d", got, n)
	}
}

func TestOpenFile_Close(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flags.json")
	MustWriteAtomic(t, path, flagDoc(t, map[string]any{userFamily.Flag: staticFlag(allVariants(), "live")}))
	s, err := OpenFile(context.Background(), path, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if st := s.Stage(context.Background(), userFamily, entity(1)); st != translate.StageLive {
		t.Fatalf("%s, want live", st)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	// Decisions made stay; nothing goes backwards.
	if st := s.Stage(context.Background(), userFamily, entity(1)); st != translate.StageLive {
		t.Fatalf("after Close: %s, want live", st)
	}
	// A new entity still gets an answer.
	floored := &translate.Family{Name: "user", Flag: userFamily.Flag, Floor: translate.StageDualWrite}
	t.Logf("new entity after Close: %s, stats %+v", s.Stage(context.Background(), floored, entity(2)), s.Stats())
}

func TestOpenFile_BadArguments(t *testing.T) {
	for _, path := range []string{"", "flags.yaml"} {
		if _, err := OpenFile(context.Background(), path, nil); err == nil {
			t.Errorf("OpenFile(%q): no error", path)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := OpenFile(ctx, filepath.Join(t.TempDir(), "f.json"), nil); !errors.Is(err, context.Canceled) {
		t.Errorf("OpenFile with a cancelled ctx: %v", err)
	}
}
