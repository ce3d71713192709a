package flags

import (
	"context"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"

	"hotswap/translate"
)

func benchSource(b *testing.B, opts ...Option) *OpenFeature {
	b.Helper()
	path := filepath.Join(b.TempDir(), "flags.json")
	MustWriteAtomic(b, path, flagDoc(b, map[string]any{
		userFamily.Flag: rampFlag(userSeed, map[translate.Stage]int{
			translate.StageOff: 40, translate.StageDualWrite: 30, translate.StageShadow: 30,
		}),
	}))
	return MustOpenFile(b, path, opts...)
}

func benchEntities(n int) [][]byte {
	e := make([][]byte, n)
	for i := range e {
		e[i] = []byte("user:" + strconv.Itoa(i*7919))
	}
	return e
}

// BenchmarkStage_cached: lookups of 10,000 entities already decided.
func BenchmarkStage_cached(b *testing.B) {
	s := benchSource(b)
	ents := benchEntities(10_000)
	ctx := context.Background()
	for _, e := range ents {
		s.Stage(ctx, userFamily, e)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		s.Stage(ctx, userFamily, ents[i%len(ents)])
	}
	b.StopTimer()
	if st := s.Stats(); st.Evaluations != uint64(len(ents)) {
		b.Fatalf("%d evaluations, want %d", st.Evaluations, len(ents))
	}
}

func BenchmarkStage_cachedParallel(b *testing.B) {
	s := benchSource(b)
	ents := benchEntities(10_000)
	ctx := context.Background()
	for _, e := range ents {
		s.Stage(ctx, userFamily, e)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			s.Stage(ctx, userFamily, ents[i%len(ents)])
			i++
		}
	})
}

// BenchmarkStage_uncached: every lookup evaluates the fractional flag (a new
// entity each time).
func BenchmarkStage_uncached(b *testing.B) {
	s := benchSource(b)
	ents := benchEntities(1 << 16)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		if i == len(ents) {
			// Past the prepared entities: drop the decisions, as a configuration change does.
			b.StopTimer()
			for _, fs := range *s.flags.Load() {
				fs.gen.Add(1)
			}
			i = 0
			b.StartTimer()
		}
		s.Stage(ctx, userFamily, ents[i])
		i++
	}
}

// BenchmarkStage_static: the Source used when no flags are configured.
func BenchmarkStage_static(b *testing.B) {
	s := &Static{}
	e := []byte("user:1")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		s.Stage(ctx, userFamily, e)
	}
}

// BenchmarkCache_memory reports the heap a cached decision costs, with
// 12-byte entities.
func BenchmarkCache_memory(b *testing.B) {
	const n = 200_000
	ents := benchEntities(n)
	fam := &translate.Family{Name: "user", Flag: "f"}
	for b.Loop() {
		c := newCache(DefaultCacheSize)
		fs := c.newFlag(fam.Flag)
		var m0, m1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m0)
		for _, e := range ents {
			h := c.hash(fs, e)
			c.put(c.shard(h), h, entry{flag: fs, entity: string(e), stage: translate.StageLive})
		}
		runtime.GC()
		runtime.ReadMemStats(&m1)
		b.ReportMetric(float64(m1.HeapAlloc-m0.HeapAlloc)/n, "bytes/entry")
		runtime.KeepAlive(c)
	}
}
