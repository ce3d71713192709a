package flags

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"hotswap/translate"
)

// allVariants maps every stage name to itself, as deploy/examples/flags.json does.
func allVariants() map[string]any {
	v := map[string]any{}
	for st := translate.StageOff; st <= translate.StageComplete; st++ {
		v[st.String()] = st.String()
	}
	return v
}

// rampFlag is a stage flag bucketing entities with fractional on seed+targetingKey;
// weights are listed in stage order (off first), so raising a later stage's share
// only moves entities forward.
func rampFlag(seed string, weights map[translate.Stage]int) map[string]any {
	frac := []any{map[string]any{"cat": []any{seed, map[string]any{"var": "targetingKey"}}}}
	for st := translate.StageOff; st <= translate.StageComplete; st++ {
		if w, ok := weights[st]; ok {
			frac = append(frac, []any{st.String(), w})
		}
	}
	return map[string]any{
		"state":          "ENABLED",
		"variants":       allVariants(),
		"defaultVariant": "off",
		"targeting":      map[string]any{"fractional": frac},
	}
}

// staticFlag is a flag whose every entity gets variant (which must be a key of variants).
func staticFlag(variants map[string]any, variant string) map[string]any {
	return map[string]any{"state": "ENABLED", "variants": variants, "defaultVariant": variant}
}

func flagDoc(tb testing.TB, flags map[string]any) []byte {
	tb.Helper()
	b, err := json.MarshalIndent(map[string]any{"$schema": "https://flagd.dev/schema/v0/flags.json", "flags": flags}, "", "  ")
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// MustWriteAtomic replaces path's content with data by writing a temporary file
// and renaming it over path.
func MustWriteAtomic(tb testing.TB, path string, data []byte) {
	tb.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		tb.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		tb.Fatal(err)
	}
}

// MustOpenFile opens a Source on path and closes it at the end of the test.
func MustOpenFile(tb testing.TB, path string, opts ...Option) *OpenFeature {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := OpenFile(ctx, path, testLogger(tb), opts...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Error(err)
		}
	})
	return s
}

// MustWaitRevision waits until s has a revision other than old, and returns it
// with the time it took.
func MustWaitRevision(tb testing.TB, s Source, old string) (string, time.Duration) {
	tb.Helper()
	start := time.Now()
	for time.Since(start) < 5*time.Second {
		if rev := s.Revision(); rev != old && rev != "" {
			return rev, time.Since(start)
		}
		time.Sleep(time.Millisecond)
	}
	tb.Fatalf("revision still %q after 5s", old)
	return "", 0
}

func testLogger(tb testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(tWriter{tb}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

type tWriter struct{ tb testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.tb.Log(string(p[:len(p)-1]))
	return len(p), nil
}

func entity(i int) []byte { return []byte("u" + strconv.Itoa(i)) }

var (
	userFamily = &translate.Family{Name: "user", Flag: "hotswap.user.stage"}
	teamFamily = &translate.Family{Name: "team", Flag: "hotswap.team.stage"}
)

// stages evaluates n entities.
func stages(s Source, f *translate.Family, n int) []translate.Stage {
	out := make([]translate.Stage, n)
	for i := range out {
		out[i] = s.Stage(context.Background(), f, entity(i))
	}
	return out
}

func count(st []translate.Stage, want translate.Stage) int {
	n := 0
	for _, s := range st {
		if s == want {
			n++
		}
	}
	return n
}

// configMap lays a file out as Kubernetes mounts a ConfigMap key: dir/name is a
// symlink to ..data/name, ..data a symlink to a timestamped directory that each
// update replaces atomically (new directory, ..data_tmp symlink renamed over
// ..data, old directory removed).
type configMap struct {
	dir, name string
	n         int
	current   string
}

func (c *configMap) path() string { return filepath.Join(c.dir, c.name) }

func (c *configMap) MustWrite(tb testing.TB, data []byte) {
	tb.Helper()
	c.n++
	ts := fmt.Sprintf("..2026_01_01_00_00_%02d.%d", c.n, c.n)
	must := func(err error) {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
	}
	must(os.Mkdir(filepath.Join(c.dir, ts), 0o755))
	must(os.WriteFile(filepath.Join(c.dir, ts, c.name), data, 0o644))
	must(os.Symlink(ts, filepath.Join(c.dir, "..data_tmp")))
	must(os.Rename(filepath.Join(c.dir, "..data_tmp"), filepath.Join(c.dir, "..data")))
	if c.current == "" {
		must(os.Symlink(filepath.Join("..data", c.name), c.path()))
	} else {
		must(os.RemoveAll(filepath.Join(c.dir, c.current)))
	}
	c.current = ts
}
