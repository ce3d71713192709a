package dual

import (
	"context"
	"fmt"

	"hotswap/resp"
	"hotswap/translate"
)

// Outstanding counts the copies not yet made for the keys match selects: journal
// entries (in Redis, every instance's) and keys whose intent Redis did not take
// (this instance's memory). It does not wait for the repairer: each matching
// journal entry, whatever its age, is copied now in the direction its key's stage
// says (a copy in flight elsewhere is harmless: versions order them), and only
// those still there afterwards count. The fleet fence calls it while the entities
// whose authority moves are paused, so no copy made under the old authority lands
// after the new one has written.
func (s *Syncer) Outstanding(ctx context.Context, match func(key []byte, r *translate.Route) bool) (int, error) {
	n := 0
	m := s.o.Engine.Mapping()
	s.lostMu.Lock()
	lost := make([][]byte, 0, len(s.lost))
	for k := range s.lost {
		lost = append(lost, []byte(k))
	}
	s.lostMu.Unlock()
	for _, k := range lost {
		// The routes kept carry no entity: route the key again.
		if r, ok, err := m.Route(k); err == nil && ok && match(k, &r) {
			n++
		}
	}
	if n > 0 && !s.breakerOpen() {
		if err := s.repairLost(ctx); err == nil {
			n = 0 // repairLost journalled or copied them all
		}
	}
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
			if err != nil || !ok || !match(key, &r) {
				continue
			}
			if s.breakerOpen() || s.repairEntry(ctx, append([]byte(nil), key...), token, r) != nil {
				n++
			}
		}
		if cursor == "0" {
			return n, nil
		}
	}
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
