package dual

import (
	"context"
	"fmt"

	"hotswap/resp"
	"hotswap/translate"
)

// Outstanding counts the copies not yet made for the keys match selects: journal
// entries (in Redis, every instance's) and keys whose intent Redis did not take
// (this instance's memory). The fleet fence waits for it to reach 0 for the
// entities whose authority moves, so no copy made under the old authority lands
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
			r, ok, err := m.Route(items[i].Str)
			if err != nil || !ok {
				continue
			}
			if match(items[i].Str, &r) {
				n++
			}
		}
		if cursor == "0" {
			return n, nil
		}
	}
}
