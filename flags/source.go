package flags

import (
	"context"
	"errors"
	"sync"

	"hotswap/translate"
)

// ErrNotReady is wrapped by Ready's error until a flag configuration has loaded.
var ErrNotReady = errors.New("flags not loaded")

// Source gives the stage of a family's entity. Implementations are safe for
// concurrent use.
type Source interface {
	// Stage never fails: on any trouble it returns the last good stage for
	// (flag, entity), or the family's floor when there is none, and counts the
	// event. The result is never below f.Floor.
	Stage(ctx context.Context, f *translate.Family, entity []byte) translate.Stage
	// Revision identifies the flag configuration in force; "" before the first load.
	Revision() string
	// Ready is nil once flags have loaded once; otherwise it says why not and
	// wraps ErrNotReady.
	Ready() error
	// Stats returns the counters since the Source was opened.
	Stats() Stats
	// Close stops watching for changes and releases the provider. Stage still
	// answers afterwards, from the last configuration.
	Close() error
}

// Stats are a Source's counters since it was opened.
type Stats struct {
	// Evaluations counts the flag evaluations made: lookups the cache could not answer.
	Evaluations uint64
	// CacheHits counts lookups answered from the decision cache.
	CacheHits uint64
	// Fallbacks counts decisions that kept the last good stage (or the floor).
	Fallbacks Fallbacks
	// ConfigChanges counts the revisions put in force after the first load.
	ConfigChanges uint64
	// Rejected counts flag configurations refused as a whole (empty, malformed,
	// not flagd's format); the previous configuration stays in force.
	Rejected uint64
	// CacheEntries is the number of (flag, entity) decisions held now.
	CacheEntries int
}

// Fallbacks counts fallback decisions by reason. A missing flag or an invalid
// value is decided once per (flag, entity) and configuration revision, and that
// decision is cached like any other; provider errors and lookups before the
// first load are not cached, so they count once per lookup.
type Fallbacks struct {
	// MissingFlag: the family's flag is not defined (or is DISABLED) in the
	// configuration in force.
	MissingFlag uint64
	// InvalidValue: the flag's value for the entity is not one of the six stage
	// names (or not a string).
	InvalidValue uint64
	// ProviderError: the evaluation failed for another reason.
	ProviderError uint64
	// NotReady: no configuration has loaded yet; the family's floor was used.
	NotReady uint64
}

// Total is the sum of the four counts.
func (f Fallbacks) Total() uint64 {
	return f.MissingFlag + f.InvalidValue + f.ProviderError + f.NotReady
}

// Static is a Source with fixed stages, for tests and for running with no flags
// configured. The zero value puts every family at its floor. It keeps no
// statistics and is always ready.
type Static struct {
	mu     sync.RWMutex
	stages map[string]translate.Stage // by family name
	fn     func(f *translate.Family, entity []byte) translate.Stage
}

var (
	_ Source = (*Static)(nil)
	_ Source = (*OpenFeature)(nil)
)

// NewStatic returns a Static that puts each family named in stages at that stage
// (never below its floor) and every other family at its floor. The map is copied.
func NewStatic(stages map[string]translate.Stage) *Static {
	s := &Static{stages: make(map[string]translate.Stage, len(stages))}
	for name, st := range stages {
		s.stages[name] = st
	}
	return s
}

// StaticFunc returns a Static that asks fn for every lookup; fn must be safe
// for concurrent use. The result is still raised to the family's floor.
func StaticFunc(fn func(f *translate.Family, entity []byte) translate.Stage) *Static {
	return &Static{fn: fn}
}

// Set puts a family at a stage for the lookups that follow. It has no effect on
// a Static made by StaticFunc.
func (s *Static) Set(family string, st translate.Stage) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stages == nil {
		s.stages = make(map[string]translate.Stage)
	}
	s.stages[family] = st
}

// Stage returns the configured stage of f, raised to f's floor.
func (s *Static) Stage(_ context.Context, f *translate.Family, entity []byte) translate.Stage {
	if s.fn != nil {
		return max(s.fn(f, entity), f.Floor)
	}
	s.mu.RLock()
	st := s.stages[f.Name] // StageOff when absent
	s.mu.RUnlock()
	return max(st, f.Floor)
}

// Revision is always "static".
func (s *Static) Revision() string { return "static" }

// Ready is always nil.
func (s *Static) Ready() error { return nil }

// Stats is always zero.
func (s *Static) Stats() Stats { return Stats{} }

// Close does nothing.
func (s *Static) Close() error { return nil }
