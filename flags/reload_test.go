package flags

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"hotswap/translate"
)

// A ramp in four steps, each moving entities forward only.
var rampSteps = []map[translate.Stage]int{
	{translate.StageOff: 75, translate.StageDualWrite: 25},
	{translate.StageOff: 50, translate.StageDualWrite: 50},
	{translate.StageOff: 25, translate.StageDualWrite: 25, translate.StageShadow: 50},
	{translate.StageDualWrite: 10, translate.StageShadow: 30, translate.StageLive: 60},
}

// editor replaces a flag file's content in one of the ways operators and
// Kubernetes do.
type editor struct {
	name  string
	setup func(tb testing.TB, dir string, first []byte) (path string, edit func(testing.TB, []byte))
}

var editors = []editor{
	{"rename", func(tb testing.TB, dir string, first []byte) (string, func(testing.TB, []byte)) {
		path := filepath.Join(dir, "flags.json")
		MustWriteAtomic(tb, path, first)
		return path, func(tb testing.TB, data []byte) { MustWriteAtomic(tb, path, data) }
	}},
	{"truncate-then-write", func(tb testing.TB, dir string, first []byte) (string, func(testing.TB, []byte)) {
		path := filepath.Join(dir, "flags.json")
		MustWriteAtomic(tb, path, first)
		return path, func(tb testing.TB, data []byte) {
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
			if err != nil {
				tb.Fatal(err)
			}
			// Half the file, then a pause longer than the watcher's settle delay and
			// the poll interval: the half-written file is read, and refused.
			if _, err := f.Write(data[:len(data)/2]); err != nil {
				tb.Fatal(err)
			}
			time.Sleep(DefaultPollInterval + 50*time.Millisecond)
			if _, err := f.Write(data[len(data)/2:]); err != nil {
				tb.Fatal(err)
			}
			if err := f.Close(); err != nil {
				tb.Fatal(err)
			}
		}
	}},
	{"configmap", func(tb testing.TB, dir string, first []byte) (string, func(testing.TB, []byte)) {
		cm := &configMap{dir: dir, name: "flags.json"}
		cm.MustWrite(tb, first)
		return cm.path(), cm.MustWrite
	}},
}

// TestOpenFile_Reload edits the file mid-use in each way, with the watcher and
// polling together and each alone, while lookups run: no entity ever moves
// backwards, and each new configuration applies within 1s.
func TestOpenFile_Reload(t *testing.T) {
	modes := []struct {
		name string
		opts []Option
	}{
		{"watch+poll", nil},
		{"watch only", []Option{WithPollInterval(0)}},
		{"poll only", []Option{func(o *options) { o.noWatch = true }}},
	}
	for _, ed := range editors {
		for _, mode := range modes {
			t.Run(ed.name+"/"+mode.name, func(t *testing.T) {
				testReload(t, ed, mode.opts)
			})
		}
	}
}

func testReload(t *testing.T, ed editor, opts []Option) {
	const n = 2_000
	doc := func(step int) []byte {
		return flagDoc(t, map[string]any{userFamily.Flag: rampFlag(userSeed, rampSteps[step])})
	}
	path, edit := ed.setup(t, t.TempDir(), doc(0))
	s := MustOpenFile(t, path, opts...)

	// Traffic: look every entity up again and again; none may go backwards.
	var (
		seen    [n]atomic.Uint32
		back    atomic.Int64
		stop    = make(chan struct{})
		wg      sync.WaitGroup
		lookups atomic.Int64
	)
	for i := range n {
		seen[i].Store(uint32(s.Stage(context.Background(), userFamily, entity(i))))
	}
	wg.Go(func() {
		for {
			for i := range n {
				select {
				case <-stop:
					return
				default:
				}
				st := uint32(s.Stage(context.Background(), userFamily, entity(i)))
				lookups.Add(1)
				if prev := seen[i].Load(); st < prev {
					back.Add(1)
				} else if st > prev {
					seen[i].Store(st)
				}
			}
		}
	})

	ref := filepath.Join(t.TempDir(), "ref.json")
	var worst time.Duration
	for step := 1; step < len(rampSteps); step++ {
		data := doc(step)
		want := revisionOf(data)
		edit(t, data)
		edited := time.Now()
		took := waitFor(t, func() bool { return s.Revision() == want })
		worst = max(worst, took)
		t.Logf("step %d: in force %v after the edit", step, took)
		if took > time.Second {
			t.Errorf("step %d: took %v, want within 1s", step, took)
		}
		// Every entity gets what a fresh instance on the new file gives it.
		MustWriteAtomic(t, ref, data)
		r := MustOpenFile(t, ref)
		got, exp := stages(s, userFamily, n), stages(r, userFamily, n)
		if !equalStages(got, exp) {
			t.Fatalf("step %d: stages differ from a fresh instance's", step)
		}
		if d := time.Since(edited); d > 5*time.Second {
			t.Fatalf("step %d: checks took %v", step, d)
		}
	}
	close(stop)
	wg.Wait()
	if b := back.Load(); b != 0 {
		t.Fatalf("%d lookups went backwards", b)
	}
	st := s.Stats()
	t.Logf("worst delay %v; %d lookups during the edits; stats %+v", worst, lookups.Load(), st)
	if st.Fallbacks.Total() != 0 {
		t.Fatalf("fallbacks: %+v", st.Fallbacks)
	}
	if st.ConfigChanges != uint64(len(rampSteps)-1) {
		t.Fatalf("%d configuration changes, want %d", st.ConfigChanges, len(rampSteps)-1)
	}
}
