package dual

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"hotswap/resp"
	"hotswap/translate"
)

// Outstanding counts the copies not yet made for the keys match selects: this
// instance's writes in flight (Begin, End), journal entries (in Redis, every
// instance's) and keys whose intent Redis did not take (this instance's memory). It does not wait for the repairer: each matching
// journal entry, whatever its age, is copied now in the direction its key's stage
// says (a copy in flight elsewhere is harmless: versions order them), and only
// those still there afterwards count. The fleet fence calls it while the entities
// whose authority moves are paused, so no copy made under the old authority lands
// after the new one has written.
func (s *Syncer) Outstanding(ctx context.Context, match func(key []byte, r *translate.Route) bool) (int, error) {
	m := s.o.Engine.Mapping()
	// Writes still on their way: not repairable yet (a repair now could read the
	// state before they land); they count until they answer.
	n := s.inflightMatching(m, match)
	lostN := 0
	s.lostMu.Lock()
	lost := make([][]byte, 0, len(s.lost))
	for k := range s.lost {
		lost = append(lost, []byte(k))
	}
	s.lostMu.Unlock()
	for _, k := range lost {
		// The routes kept carry no entity: route the key again.
		if r, ok, err := m.Route(k); err == nil && ok && match(k, &r) {
			lostN++
		}
	}
	if lostN > 0 && !s.breakerOpen() {
		if err := s.repairLost(ctx); err == nil {
			lostN = 0 // repairLost journalled or copied them all
		}
	}
	n += lostN
	// Repairs run drainWorkers at a time; once ctx ends, the rest are counted, not
	// repaired, so the caller (the fence, between two heartbeats) keeps its pace.
	var failed atomic.Int64
	work := make(chan journalEntry)
	var wg sync.WaitGroup
	for range drainWorkers {
		wg.Go(func() {
			for e := range work {
				if ctx.Err() != nil || s.breakerOpen() || s.repairEntry(ctx, e.key, e.token, e.route) != nil {
					failed.Add(1)
				}
			}
		})
	}
	defer func() {
		close(work)
		wg.Wait()
	}()
	cursor := "0"
	for {
		v, err := s.o.Redis.Do(ctx, resp.AppendCommandString(nil, "HSCAN", s.o.JournalKey, cursor, "COUNT", "1000"))
		if err != nil {
			return 0, fmt.Errorf("dual: scan journal: %w", err)
		}
		if v.IsError() || len(v.Elems) != 2 {
			return 0, fmt.Errorf("dual: scan journal: %v", v.Err())
		}
		cursor = string(v.Elems[0].Str)
		items := v.Elems[1].Elems
		for i := 0; i+1 < len(items); i += 2 {
			key, token := items[i].Str, string(items[i+1].Str)
			r, ok, err := m.Route(key)
			if err != nil || !ok || !match(key, &r) || s.isInflight(key) {
				continue // an entry of a write in flight is counted above, and left to it
			}
			work <- journalEntry{key: append([]byte(nil), key...), token: token, route: r}
		}
		if cursor == "0" {
			close(work)
			wg.Wait()
			work = make(chan journalEntry) // for the deferred close
			return n + int(failed.Load()), nil
		}
	}
}

// drainWorkers is how many journal entries Outstanding repairs at once.
const drainWorkers = 8

type journalEntry struct {
	key   []byte
	token string
	route translate.Route
}

// repairEntry copies one journal entry's key in the direction its stage says and
// clears the entry (as the repairer does).
func (s *Syncer) repairEntry(ctx context.Context, key []byte, token string, r translate.Route) error {
	switch st := s.o.Stage(&r); {
	case st == translate.StageOff || st == translate.StageComplete:
		s.clear(ctx, key, token)
		return nil
	case st.DynamoAuthoritative():
		return s.repairToRedis(ctx, key, r, token)
	default:
		return s.repairKey(ctx, key, r)
	}
}

// OwnKeys are hotswap's bookkeeping keys in Redis' db 0 (journal, clock, versions):
// the whole-keyspace commands hide them from the application.
func (s *Syncer) OwnKeys() []string {
	return []string{s.o.JournalKey, s.o.ClockKey, s.o.VersionKey}
}

// inflightShards spreads the in-flight table over locks.
const inflightShards = 16

// inflightMaxAge: an in-flight mark older than this is taken as lost (a command
// whose reply never came back); Outstanding stops counting it.
const inflightMaxAge = 30 * time.Second

type inflightShard struct {
	mu sync.Mutex
	m  map[string]*inflightMark
}

type inflightMark struct {
	n     int
	since time.Time
}

// Begin marks keys as written by a command in flight: from just before its capture
// or intent is sent until its authoritative write has answered (End). Outstanding
// counts them, so an authority change waits for writes that passed the stage check
// but have not reached their store yet.
func (s *Syncer) Begin(keys [][]byte) {
	now := s.o.Now()
	for _, k := range keys {
		sh := s.shard(k)
		sh.mu.Lock()
		if sh.m == nil {
			sh.m = map[string]*inflightMark{}
		}
		mk := sh.m[string(k)]
		if mk == nil {
			mk = &inflightMark{since: now}
			sh.m[string(k)] = mk
		}
		mk.n++
		sh.mu.Unlock()
	}
}

// End undoes Begin for keys.
func (s *Syncer) End(keys [][]byte) {
	for _, k := range keys {
		sh := s.shard(k)
		sh.mu.Lock()
		if mk := sh.m[string(k)]; mk != nil {
			if mk.n--; mk.n <= 0 {
				delete(sh.m, string(k))
			}
		}
		sh.mu.Unlock()
	}
}

func (s *Syncer) shard(k []byte) *inflightShard {
	var h uint32 = 2166136261
	for _, c := range k {
		h = (h ^ uint32(c)) * 16777619
	}
	return &s.inflight[h%inflightShards]
}

func (s *Syncer) isInflight(k []byte) bool {
	sh := s.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	mk := sh.m[string(k)]
	return mk != nil && s.o.Now().Sub(mk.since) < inflightMaxAge
}

// inflightMatching counts the keys match selects with a command in flight.
func (s *Syncer) inflightMatching(m *translate.Mapping, match func(key []byte, r *translate.Route) bool) int {
	now := s.o.Now()
	var keys [][]byte
	for i := range s.inflight {
		sh := &s.inflight[i]
		sh.mu.Lock()
		for k, mk := range sh.m {
			if now.Sub(mk.since) < inflightMaxAge {
				keys = append(keys, []byte(k))
			}
		}
		sh.mu.Unlock()
	}
	n := 0
	for _, k := range keys {
		if r, ok, err := m.Route(k); err == nil && ok && match(k, &r) {
			n++
		}
	}
	return n
}
