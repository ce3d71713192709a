//go:build integration

package oracle

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The oracle: every writer records each operation it sent, with the times it was sent
// and answered (monotonic, from the test's start) and whether it was acknowledged. The
// writers' own data never overlaps: writer w owns field h<w> (HSET) and counter n<w>
// (HINCRBY) in every hash, and its SADD tokens t<w>.<seq> are unique; it SREMs only
// tokens it added. So the order of one writer's operations on its data is its program
// order. DEL is the one operation that touches everyone's data: only the entity's
// owner (entity mod writers) deletes it, so the DELs of a key are ordered too, and
// other writers' operations are placed against the last DEL by real time: an
// operation answered before the DEL was sent is before it; one sent after the DEL was
// answered is after it; anything else overlaps it and may be on either side.
// Operations that got an error (or no answer) may or may not have applied.

type opKind uint8

const (
	opHSet opKind = iota
	opIncr
	opSAdd
	opSRem
	opDel
	opExpire
	opRead
)

func (k opKind) String() string {
	return [...]string{"HSET", "HINCRBY", "SADD", "SREM", "DEL", "EXPIRE", "READ"}[k]
}

type op struct {
	kind       opKind
	w, inst    int
	key        string
	field      string // hash field, or set member (token)
	val        string // HSET value
	n          int64  // HINCRBY increment
	reply      int64  // integer reply when acknowledged
	send, ack  time.Duration
	ok         bool
	err        string
	seq        int
	instKilled bool // the instance was killed while this was in flight
}

func (o *op) String() string {
	s := fmt.Sprintf("%s %s", o.kind, o.key)
	switch o.kind {
	case opHSet:
		s += " " + o.field + " " + o.val
	case opIncr:
		s += fmt.Sprintf(" %s %d", o.field, o.n)
	case opSAdd, opSRem:
		s += " " + o.field
	}
	res := fmt.Sprintf("→ %d", o.reply)
	if !o.ok {
		res = "→ error " + o.err
	}
	return fmt.Sprintf("[w%d via i%d, sent %s, answered %s %s] %s", o.w, o.inst, ms(o.send), ms(o.ack), res, s)
}

// load is the writers' configuration.
type load struct {
	writers  int
	entities int
	seed     uint64
	// instance gives writer w its instance (writers never switch instance).
	instance func(w int) *instance
	// delEvery: one DEL in delEvery operations of a writer (on an entity it owns).
	delEvery int
	// rate caps the operations per second of all writers together (0: as fast as
	// the instances answer).
	rate int
}

func oracleSeed(t *testing.T) uint64 {
	if s := os.Getenv("HOTSWAP_ORACLE_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("HOTSWAP_ORACLE_SEED: %v", err)
		}
		return n
	}
	return uint64(time.Now().UnixNano())
}

// run starts the writers; stop ends them and returns every operation.
func (e *env) run(l load) (stop func() []op) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	hist := make([][]op, l.writers)
	for w := 0; w < l.writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hist[w] = e.writer(ctx, w, l)
		}()
	}
	return func() []op {
		cancel()
		wg.Wait()
		var all []op
		for _, h := range hist {
			all = append(all, h...)
		}
		return all
	}
}

func (e *env) writer(ctx context.Context, w int, l load) []op {
	in := l.instance(w)
	c := client(in.listen)
	defer c.Close()
	rng := rand.New(rand.NewPCG(l.seed, uint64(w)))
	var hist []op
	var owned []int
	for ent := w; ent < l.entities; ent += l.writers {
		owned = append(owned, ent)
	}
	live := map[string][]string{} // set key → tokens added (acknowledged) and not removed
	seq := 0
	var interval time.Duration
	if l.rate > 0 {
		interval = time.Duration(l.writers) * time.Second / time.Duration(l.rate)
	}
	next := time.Now()
	for ctx.Err() == nil {
		seq++
		if interval > 0 {
			next = next.Add(interval)
			if d := time.Until(next); d > 0 {
				time.Sleep(d)
			} else if d < -time.Second {
				next = time.Now() // far behind: don't burst to catch up
			}
		}
		ent := rng.IntN(l.entities)
		o := op{w: w, inst: in.id, seq: seq}
		var args []any
		switch p := rng.IntN(100); {
		case l.delEvery > 0 && rng.IntN(l.delEvery) == 0 && len(owned) > 0:
			ent = owned[rng.IntN(len(owned))]
			o.kind, o.key = opDel, hashKey(ent)
			if rng.IntN(2) == 0 {
				o.key = setKey(ent)
			}
			args = []any{"DEL", o.key}
		case p < 25:
			o.kind, o.key, o.field, o.n = opIncr, hashKey(ent), "n"+strconv.Itoa(w), int64(1+rng.IntN(5))
			args = []any{"HINCRBY", o.key, o.field, o.n}
		case p < 45:
			o.kind, o.key, o.field, o.val = opHSet, hashKey(ent), "h"+strconv.Itoa(w), strconv.Itoa(seq)
			args = []any{"HSET", o.key, o.field, o.val}
		case p < 57 && len(live[setKey(ent)]) > 0:
			o.kind, o.key = opSRem, setKey(ent)
			toks := live[o.key]
			i := rng.IntN(len(toks))
			o.field = toks[i]
			toks[i] = toks[len(toks)-1]
			live[o.key] = toks[:len(toks)-1]
			args = []any{"SREM", o.key, o.field}
		case p < 85:
			o.kind, o.key, o.field = opSAdd, setKey(ent), "t"+strconv.Itoa(w)+"."+strconv.Itoa(seq)
			args = []any{"SADD", o.key, o.field}
		case p < 90:
			o.kind, o.key = opExpire, hashKey(ent)
			if rng.IntN(2) == 0 {
				o.key = setKey(ent)
			}
			args = []any{"EXPIRE", o.key, 86400 + rng.IntN(86400)}
		default:
			o.kind = opRead
			if rng.IntN(2) == 0 {
				args = []any{"HGETALL", hashKey(ent)}
			} else {
				args = []any{"SMEMBERS", setKey(ent)}
			}
		}
		o.send = e.since()
		res := c.Do(context.Background(), args...)
		o.ack = e.since()
		if err := res.Err(); err != nil {
			o.err = err.Error()
			if len(o.err) > 160 {
				o.err = o.err[:160]
			}
			o.instKilled = in.killed.Load()
		} else {
			o.ok = true
			if n, err := res.Int64(); err == nil {
				o.reply = n
			}
		}
		if o.kind == opRead {
			continue
		}
		hist = append(hist, o)
		if o.kind == opSAdd && o.ok {
			live[o.key] = append(live[o.key], o.field)
		}
		if !o.ok {
			if in.killed.Load() {
				return hist // the instance is gone: this writer is done
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	return hist
}

// violation is one way the final state or a reply contradicts the acknowledged
// operations.
type violation struct {
	store    string // redis, dynamodb, or reply (seen by a client while running)
	key      string
	what     string
	expected string
	got      string
	at       time.Duration // the time the relevant operation(s) point at
	// from, to: for a reply that contradicts the writer's previous operation, the
	// window in which the loss happened (between the two).
	from, to time.Duration
	ops      []*op // the operations that show it
}

// placement of an operation against the last DEL of its key.
type placement uint8

const (
	before placement = iota
	after
	overlap
	unknown // no acknowledgement: may or may not have applied
)

// keyHistory is one key's operations, for the checks.
type keyHistory struct {
	key      string
	ops      []*op // every operation but DEL, in send order
	lastDel  *op   // the last acknowledged DEL
	maybeDel bool  // a DEL without acknowledgement after lastDel
	dels     []*op
}

func (h *keyHistory) place(o *op) placement {
	switch {
	case !o.ok:
		return unknown
	case h.lastDel == nil:
		return after
	case o.ack < h.lastDel.send:
		return before
	case o.send > h.lastDel.ack:
		return after
	}
	return overlap
}

// delBetween reports whether a DEL of the key (acknowledged or not) may have run
// between a and b (a before b in one writer's program order).
func (h *keyHistory) delBetween(a, b *op) bool {
	for _, d := range h.dels {
		end := d.ack
		if !d.ok {
			end = 1 << 62
		}
		if d.send < b.ack && end > a.send {
			return true
		}
	}
	return false
}

func histories(ops []op) map[string]*keyHistory {
	hs := map[string]*keyHistory{}
	for i := range ops {
		o := &ops[i]
		h := hs[o.key]
		if h == nil {
			h = &keyHistory{key: o.key}
			hs[o.key] = h
		}
		if o.kind == opDel {
			h.dels = append(h.dels, o)
		} else {
			h.ops = append(h.ops, o)
		}
	}
	for _, h := range hs {
		sort.Slice(h.ops, func(i, j int) bool { return h.ops[i].send < h.ops[j].send })
		sort.Slice(h.dels, func(i, j int) bool { return h.dels[i].send < h.dels[j].send })
		for _, d := range h.dels {
			if d.ok {
				h.lastDel, h.maybeDel = d, false
			} else {
				h.maybeDel = true
			}
		}
	}
	return hs
}

// checkReplies checks what the writers were told while running: a writer's own data
// must read back as it left it unless a DEL of the key may have run in between.
//   - HINCRBY on its counter returns the previous reply + the increment;
//   - HSET of its field returns 0 (updated) once it has set it;
//   - SREM of a token it added returns 1.
//
// A mismatch pins a lost (or doubled) write between two of one writer's operations.
func checkReplies(hs map[string]*keyHistory) []violation {
	var out []violation
	for _, h := range hs {
		prev := map[string]*op{} // field → previous op of the field (any outcome)
		added := map[string]*op{}
		for _, o := range h.ops {
			switch o.kind {
			case opIncr, opHSet:
				p := prev[o.field]
				prev[o.field] = o
				if p == nil || !p.ok || !o.ok || h.delBetween(p, o) {
					continue
				}
				if o.kind == opIncr && o.reply != p.reply+o.n {
					what := "HINCRBY reply: the counter lost acknowledged increments"
					if o.reply > p.reply+o.n {
						what = "HINCRBY reply: the counter gained increments nobody acknowledged"
					}
					out = append(out, violation{store: "reply", key: h.key, what: what + " (field " + o.field + ")",
						expected: strconv.FormatInt(p.reply+o.n, 10), got: strconv.FormatInt(o.reply, 10), at: (p.ack + o.send) / 2, from: p.ack, to: o.send, ops: []*op{p, o}})
				}
				if o.kind == opHSet && o.reply != 0 {
					out = append(out, violation{store: "reply", key: h.key, what: "HSET reply: the writer's field, set before, was gone (field " + o.field + ")",
						expected: "0 (field existed, value " + p.val + ")", got: strconv.FormatInt(o.reply, 10), at: (p.ack + o.send) / 2, from: p.ack, to: o.send, ops: []*op{p, o}})
				}
			case opSAdd:
				added[o.field] = o
			case opSRem:
				a := added[o.field]
				if a == nil || !a.ok || !o.ok || h.delBetween(a, o) {
					continue
				}
				if o.reply != 1 {
					out = append(out, violation{store: "reply", key: h.key, what: "SREM reply: an acknowledged SADD token was gone",
						expected: "1 (" + o.field + " present)", got: strconv.FormatInt(o.reply, 10), at: (a.ack + o.send) / 2, from: a.ack, to: o.send, ops: []*op{a, o}})
				}
			}
		}
	}
	return out
}

// checkState checks one store's final state of every key against the history.
func checkState(store string, hs map[string]*keyHistory, keys []string, states map[string]keyState) []violation {
	var out []violation
	for _, key := range keys {
		st := states[key]
		h := hs[key]
		if h == nil {
			h = &keyHistory{key: key}
		}
		isSet := strings.HasSuffix(key, ":teams")
		want := "hash"
		if isSet {
			want = "set"
		}
		if st.kind != "none" && st.kind != want {
			out = append(out, violation{store: store, key: key, what: "wrong type", expected: want, got: st.kind})
			continue
		}
		if isSet {
			out = append(out, checkSet(store, h, st)...)
		} else {
			out = append(out, checkHash(store, h, st)...)
		}
	}
	return out
}

func checkSet(store string, h *keyHistory, st keyState) []violation {
	var out []violation
	type tok struct{ add, rem *op }
	toks := map[string]*tok{}
	for _, o := range h.ops {
		switch o.kind {
		case opSAdd:
			toks[o.field] = &tok{add: o}
		case opSRem:
			if t := toks[o.field]; t != nil {
				t.rem = o
			}
		}
	}
	for m := range st.members {
		if toks[m] == nil {
			out = append(out, violation{store: store, key: h.key, what: "member nobody added", expected: "absent", got: m})
		}
	}
	for name, t := range toks {
		present := st.members[name]
		pa := h.place(t.add)
		switch {
		case t.rem != nil && t.rem.ok && t.add.ok:
			if present {
				out = append(out, violation{store: store, key: h.key, what: "acknowledged SREM undone: token back", expected: "absent", got: "present " + name, at: t.rem.ack, ops: []*op{t.add, t.rem}})
			}
		case t.add.ok && pa == before:
			if present {
				out = append(out, violation{store: store, key: h.key, what: "token of an acknowledged SADD that an acknowledged DEL removed is back", expected: "absent", got: "present " + name, at: h.lastDel.ack, ops: []*op{t.add, h.lastDel}})
			}
		case t.add.ok && pa == after && t.rem == nil && !h.maybeDel:
			if !present {
				ops := []*op{t.add}
				if h.lastDel != nil {
					ops = append(ops, h.lastDel)
				}
				out = append(out, violation{store: store, key: h.key, what: "acknowledged SADD token missing", expected: "present " + name, got: "absent", at: t.add.ack, ops: ops})
			}
		}
	}
	return out
}

func checkHash(store string, h *keyHistory, st keyState) []violation {
	var out []violation
	byField := map[string][]*op{}
	for _, o := range h.ops {
		if o.kind == opIncr || o.kind == opHSet {
			byField[o.field] = append(byField[o.field], o)
		}
	}
	for f, v := range st.fields {
		if byField[f] == nil {
			out = append(out, violation{store: store, key: h.key, what: "field nobody wrote", expected: "absent", got: f + "=" + v})
		}
	}
	for f, ops := range byField {
		v, present := st.fields[f]
		if strings.HasPrefix(f, "n") {
			var lo, hi int64
			var lastAfter *op
			for _, o := range ops {
				switch h.place(o) {
				case after:
					lo += o.n
					hi += o.n
					lastAfter = o
				case overlap, unknown:
					hi += o.n
				}
			}
			if h.maybeDel {
				lo = 0
			}
			got := int64(0)
			if present {
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					out = append(out, violation{store: store, key: h.key, what: "counter not an integer", expected: fmt.Sprintf("[%d, %d]", lo, hi), got: v})
					continue
				}
				got = n
			}
			if got < lo || got > hi {
				what := "counter below the acknowledged increments since the last DEL (lost increments)"
				if got > hi {
					what = "counter above every increment that may have applied (applied twice, or a DEL undone)"
				}
				at := time.Duration(0)
				var vops []*op
				if lastAfter != nil {
					at = lastAfter.ack
					vops = append(vops, lastAfter)
				}
				if h.lastDel != nil {
					vops = append(vops, h.lastDel)
				}
				out = append(out, violation{store: store, key: h.key, what: what + " (field " + f + ")", expected: fmt.Sprintf("[%d, %d]", lo, hi), got: strconv.FormatInt(got, 10), at: at, ops: vops})
			}
			continue
		}
		// A register: the last write that applied after the last DEL wins.
		allowed := map[string]bool{}
		var x *op
		for _, o := range ops {
			if h.place(o) == after {
				x = o
			}
		}
		if x != nil {
			allowed[x.val] = true
			for _, o := range ops {
				if o.send > x.send && !o.ok {
					allowed[o.val] = true
				}
			}
		} else {
			allowed["<absent>"] = true
			var lastBefore *op
			for _, o := range ops {
				if h.place(o) == before {
					lastBefore = o
				}
			}
			for _, o := range ops {
				if lastBefore == nil || o.send > lastBefore.send {
					allowed[o.val] = true
				}
			}
		}
		if h.maybeDel {
			allowed["<absent>"] = true
		}
		got := "<absent>"
		if present {
			got = v
		}
		if !allowed[got] {
			var exp []string
			for a := range allowed {
				exp = append(exp, a)
			}
			sort.Strings(exp)
			vops := []*op{}
			at := time.Duration(0)
			if x != nil {
				vops = append(vops, x)
				at = x.ack
			}
			if h.lastDel != nil {
				vops = append(vops, h.lastDel)
			}
			out = append(out, violation{store: store, key: h.key, what: "field " + f + " is not the last acknowledged HSET since the last DEL", expected: "one of " + strings.Join(exp, ","), got: got, at: at, ops: vops})
		}
	}
	return out
}

// report writes the violations with the stage changes around each, and a summary
// by kind and by the stage change nearest to them.
func (e *env) report(t *testing.T, vs []violation) {
	t.Helper()
	if len(vs) == 0 {
		return
	}
	sort.Slice(vs, func(i, j int) bool {
		if vs[i].store != vs[j].store {
			return vs[i].store < vs[j].store
		}
		return vs[i].at < vs[j].at
	})
	byKind := map[string]int{}
	byNear := map[string]int{}
	var b strings.Builder
	for i, v := range vs {
		kind := v.store + ": " + fieldName.ReplaceAllString(v.what, "field *")
		byKind[kind]++
		near := "near " + e.nearest(v.at)
		if v.to > 0 {
			near = "lost between two replies, stage changes in that window: " + e.tl.within(v.from, v.to)
		}
		byNear[v.store+" "+near]++
		if i >= 60 {
			continue
		}
		fmt.Fprintf(&b, "\n[%s] %s: %s\n    expected %s, got %s\n", v.store, v.key, v.what, v.expected, v.got)
		for _, o := range v.ops {
			fmt.Fprintf(&b, "    op %s (instance %d at stage %s)\n", o, o.inst, e.tl.stageAt(o.inst, o.send))
		}
		switch {
		case v.to > 0:
			fmt.Fprintf(&b, "    lost between %s and %s; stage changes in that window: %s\n", ms(v.from), ms(v.to), e.tl.within(v.from, v.to))
		case v.at > 0:
			fmt.Fprintf(&b, "    around %s: %s\n", ms(v.at), e.tl.around(v.at, 3*time.Second))
		}
	}
	if len(vs) > 60 {
		fmt.Fprintf(&b, "\n... %d more\n", len(vs)-60)
	}
	b.WriteString("\nsummary by kind:\n")
	for _, k := range sortedKeys(byKind) {
		fmt.Fprintf(&b, "  %5d  %s\n", byKind[k], k)
	}
	b.WriteString("summary by stage change (nearest, or within the window of a reply):\n")
	for _, k := range sortedKeys(byNear) {
		fmt.Fprintf(&b, "  %5d  %s\n", byNear[k], k)
	}
	fmt.Fprintf(&b, "stage timeline:\n%s", e.tl)
	t.Errorf("%d violations of the acknowledged operations:%s", len(vs), b.String())
}

// fieldName drops the field from a violation's description, for the summary.
var fieldName = regexp.MustCompile(`field [hn][0-9]+`)

// nearest names the stage change closest to t.
func (e *env) nearest(t time.Duration) string {
	if t == 0 {
		return "(no time)"
	}
	e.tl.mu.Lock()
	defer e.tl.mu.Unlock()
	best, bestD := "(none)", time.Duration(1<<62)
	for i := 1; i < len(e.tl.steps); i++ {
		s := e.tl.steps[i]
		d := t - s.written
		if d < 0 {
			d = -d
		}
		if d < bestD {
			bestD = d
			best = fmt.Sprintf("%s→%s", e.tl.steps[i-1].stage, s.stage)
		}
	}
	return best
}

func sortedKeys(m map[string]int) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// summary counts the operations by kind and outcome.
func summary(ops []op) string {
	type c struct{ ok, err int }
	cs := map[opKind]*c{}
	for i := range ops {
		x := cs[ops[i].kind]
		if x == nil {
			x = &c{}
			cs[ops[i].kind] = x
		}
		if ops[i].ok {
			x.ok++
		} else {
			x.err++
		}
	}
	var parts []string
	for k := opHSet; k <= opExpire; k++ {
		if x := cs[k]; x != nil {
			parts = append(parts, fmt.Sprintf("%s %d ok/%d err", k, x.ok, x.err))
		}
	}
	return strings.Join(parts, ", ")
}

// errorSamples returns a few distinct error messages.
func errorSamples(ops []op) string {
	seen := map[string]int{}
	for i := range ops {
		if !ops[i].ok {
			seen[ops[i].err]++
		}
	}
	var parts []string
	for _, k := range sortedKeys(seen) {
		parts = append(parts, fmt.Sprintf("%dx %q", seen[k], k))
		if len(parts) == 8 {
			break
		}
	}
	return strings.Join(parts, "; ")
}

// allKeys is every key of the entities.
func allKeys(entities int) []string {
	keys := make([]string, 0, 2*entities)
	for i := 0; i < entities; i++ {
		keys = append(keys, hashKey(i), setKey(i))
	}
	return keys
}
