package dual

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"math/rand/v2"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"hotswap/proxy/command"
	"hotswap/resp"
	"hotswap/translate"
)

// Shadow compares reads with the other store while both hold a family (shadow: Redis
// answers and DynamoDB is compared; live: DynamoDB answers and Redis is compared). It
// runs off the reply path: sampled, at most MaxInFlight at once (others are skipped and
// counted), each bounded by Timeout. Replies are compared after normalising what Redis
// itself leaves unordered (HGETALL, SMEMBERS, ...), RESP3 against RESP2 shapes, and
// expiries within a tolerance. A difference is checked again after RecheckDelay (a
// concurrent write is not a bug) and only then counted, logged with the key hashed,
// and journalled so the repairer copies the authoritative state over.
type Shadow struct {
	o      ShadowOptions
	sem    chan struct{}
	log    *slog.Logger
	counts shadowCounts
	// byFamily counts per family (of the command's first key), for the status page;
	// fixed at NewShadow from the engine's mapping.
	byFamily map[*translate.Family]*shadowCounts
}

// ShadowOptions configure a Shadow.
type ShadowOptions struct {
	Engine *translate.Engine
	Redis  Redis
	Syncer *Syncer // journals the keys found different
	Logger *slog.Logger
	// SampleRate is the fraction of reads compared (0..1; default 1).
	SampleRate float64
	// MaxInFlight bounds concurrent comparisons (default 64); Timeout bounds one
	// (default 1s); RecheckDelay is the wait before a difference is checked again
	// (default 200ms).
	MaxInFlight  int
	Timeout      time.Duration
	RecheckDelay time.Duration
	// LogValues logs the differing replies; by default they are redacted.
	LogValues bool
}

type shadowCounts struct {
	match, mismatchValue, mismatchMissing, mismatchType, mismatchTTL, skipped, timedOut, errors atomic.Uint64
}

// ShadowStats are a Shadow's counters.
type ShadowStats struct {
	Match           uint64 `json:"match"`
	MismatchValue   uint64 `json:"mismatch_value"`
	MismatchMissing uint64 `json:"mismatch_missing"`
	MismatchType    uint64 `json:"mismatch_type"`
	MismatchTTL     uint64 `json:"mismatch_ttl"`
	Skipped         uint64 `json:"skipped"`
	TimedOut        uint64 `json:"timed_out"`
	Errors          uint64 `json:"errors"`
	// ByFamily holds the same counters per key family (of each read's first key).
	ByFamily map[string]ShadowStats `json:"by_family,omitempty"`
}

// NewShadow returns a Shadow.
func NewShadow(o ShadowOptions) *Shadow {
	if o.SampleRate <= 0 || o.SampleRate > 1 {
		o.SampleRate = 1
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = 64
	}
	if o.Timeout <= 0 {
		o.Timeout = time.Second
	}
	if o.RecheckDelay <= 0 {
		o.RecheckDelay = 200 * time.Millisecond
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Shadow{o: o, sem: make(chan struct{}, o.MaxInFlight), log: log, byFamily: map[*translate.Family]*shadowCounts{}}
	if o.Engine != nil {
		for _, f := range o.Engine.Mapping().Families {
			s.byFamily[f] = &shadowCounts{}
		}
	}
	return s
}

// add counts one outcome, in all and for the family of the read's first key.
func (s *Shadow) add(routes []translate.Route, pick func(*shadowCounts) *atomic.Uint64) {
	pick(&s.counts).Add(1)
	if len(routes) > 0 {
		if c := s.byFamily[routes[0].Family]; c != nil {
			pick(c).Add(1)
		}
	}
}

func (c *shadowCounts) stats() ShadowStats {
	return ShadowStats{
		Match: c.match.Load(), MismatchValue: c.mismatchValue.Load(), MismatchMissing: c.mismatchMissing.Load(),
		MismatchType: c.mismatchType.Load(), MismatchTTL: c.mismatchTTL.Load(), Skipped: c.skipped.Load(),
		TimedOut: c.timedOut.Load(), Errors: c.errors.Load(),
	}
}

// Stats returns the counters.
func (s *Shadow) Stats() ShadowStats {
	st := s.counts.stats()
	if len(s.byFamily) > 0 {
		st.ByFamily = make(map[string]ShadowStats, len(s.byFamily))
		for f, c := range s.byFamily {
			st.ByFamily[f.Name] = c.stats()
		}
	}
	return st
}

// Sample reports whether this read should be compared; call it before copying
// anything, so unsampled reads cost nothing.
func (s *Shadow) Sample() bool {
	return s.o.SampleRate >= 1 || rand.Float64() < s.o.SampleRate
}

// Compare compares, in the background, the reply a read got from the authoritative
// store with the same read on the other. redisAuthoritative says which store answered.
// args, keys and routes must not be reused by the caller.
func (s *Shadow) Compare(args [][]byte, info *command.Info, keys []int, routes []translate.Route, reply []byte, redisAuthoritative bool) {
	select {
	case s.sem <- struct{}{}:
	default:
		s.add(routes, func(c *shadowCounts) *atomic.Uint64 { return &c.skipped })
		return
	}
	go func() {
		defer func() { <-s.sem }()
		s.compare(args, info, keys, routes, reply, redisAuthoritative)
	}()
}

func (s *Shadow) compare(args [][]byte, info *command.Info, keys []int, routes []translate.Route, reply []byte, redisAuth bool) {
	ctx, cancel := context.WithTimeout(context.Background(), s.o.Timeout+s.o.RecheckDelay+s.o.Timeout)
	defer cancel()
	other, err := s.readOther(ctx, args, info, keys, routes, redisAuth)
	if err != nil {
		s.fail(ctx, routes, err)
		return
	}
	kind := diffKind(info.Name, reply, other)
	if kind == "" {
		s.add(routes, func(c *shadowCounts) *atomic.Uint64 { return &c.match })
		return
	}
	// Again, both sides, after a pause: a write between the two reads is not a bug.
	t := time.NewTimer(s.o.RecheckDelay)
	select {
	case <-ctx.Done():
		t.Stop()
		s.add(routes, func(c *shadowCounts) *atomic.Uint64 { return &c.timedOut })
		return
	case <-t.C:
	}
	auth, err := s.readAuth(ctx, args, info, keys, routes, redisAuth)
	if err != nil {
		s.fail(ctx, routes, err)
		return
	}
	other, err = s.readOther(ctx, args, info, keys, routes, redisAuth)
	if err != nil {
		s.fail(ctx, routes, err)
		return
	}
	if kind = diffKind(info.Name, auth, other); kind == "" {
		s.add(routes, func(c *shadowCounts) *atomic.Uint64 { return &c.match })
		return
	}
	switch kind {
	case "missing":
		s.add(routes, func(c *shadowCounts) *atomic.Uint64 { return &c.mismatchMissing })
	case "type":
		s.add(routes, func(c *shadowCounts) *atomic.Uint64 { return &c.mismatchType })
	case "ttl":
		s.add(routes, func(c *shadowCounts) *atomic.Uint64 { return &c.mismatchTTL })
	default:
		s.add(routes, func(c *shadowCounts) *atomic.Uint64 { return &c.mismatchValue })
	}
	attrs := []any{"command", strings.ToUpper(info.Name), "family", familyName(&routes[0]), "key_hash", hashKey(args[keys[0]]), "kind", kind}
	if s.o.LogValues {
		attrs = append(attrs, "authoritative", string(auth), "other", string(other))
	}
	s.log.Warn("shadow read differs between Redis and DynamoDB", attrs...)
	if s.o.Syncer != nil {
		// Journal the keys with an old token: the repairer copies them on its next pass.
		ks := make([][]byte, len(keys))
		for i, ki := range keys {
			ks[i] = args[ki]
		}
		s.o.Syncer.journalOld(ctx, ks)
	}
}

func (s *Shadow) fail(ctx context.Context, routes []translate.Route, err error) {
	if ctx.Err() != nil {
		s.add(routes, func(c *shadowCounts) *atomic.Uint64 { return &c.timedOut })
		return
	}
	s.add(routes, func(c *shadowCounts) *atomic.Uint64 { return &c.errors })
	s.log.Debug("shadow read failed", "err", err)
}

func (s *Shadow) readOther(ctx context.Context, args [][]byte, info *command.Info, keys []int, routes []translate.Route, redisAuth bool) ([]byte, error) {
	return s.read(ctx, args, info, keys, routes, !redisAuth)
}

func (s *Shadow) readAuth(ctx context.Context, args [][]byte, info *command.Info, keys []int, routes []translate.Route, redisAuth bool) ([]byte, error) {
	return s.read(ctx, args, info, keys, routes, redisAuth)
}

// read runs the read on Redis or DynamoDB (RESP2: replies are compared normalised).
func (s *Shadow) read(ctx context.Context, args [][]byte, info *command.Info, keys []int, routes []translate.Route, onRedis bool) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
	defer cancel()
	if onRedis {
		v, err := s.o.Redis.Do(ctx, resp.AppendCommand(nil, args...))
		if err != nil {
			return nil, err
		}
		return resp.AppendValue(nil, v), nil
	}
	return s.o.Engine.Exec(ctx, 2, &translate.Cmd{Args: args, Info: info, Keys: keys, Routes: routes}, nil), nil
}

// diffKind compares two replies to one read: "" when they agree.
func diffKind(cmd string, a, b []byte) string {
	if bytes.Equal(a, b) {
		return ""
	}
	va, _, errA := resp.Parse(a)
	vb, _, errB := resp.Parse(b)
	if errA != nil || errB != nil {
		return "value"
	}
	switch cmd {
	case "ttl", "pttl", "expiretime", "pexpiretime":
		tol := int64(1)
		if cmd[0] == 'p' {
			tol = 1000
		}
		if va.Int >= 0 && vb.Int >= 0 && va.Int-vb.Int <= tol && vb.Int-va.Int <= tol {
			return ""
		}
		if va.Int == -2 || vb.Int == -2 {
			return "missing"
		}
		return "ttl"
	}
	na, nb := normal(va), normal(vb)
	if na == nb {
		return ""
	}
	wrong := []byte("WRONGTYPE")
	if bytes.HasPrefix(va.Str, wrong) != bytes.HasPrefix(vb.Str, wrong) {
		return "type"
	}
	if isEmpty(va) != isEmpty(vb) {
		return "missing"
	}
	return "value"
}

// normal renders a reply with RESP3 shapes folded into RESP2's and the elements of
// aggregates sorted (Redis does not order HGETALL, SMEMBERS, HKEYS, ...; pairs of a
// map stay together).
func normal(v resp.Value) string {
	switch v.Type {
	case '*', '~', '%', '>':
		if v.Null {
			return "nil"
		}
		var parts []string
		step := 1
		if v.Type == '%' {
			step = 2
		}
		for i := 0; i+step <= len(v.Elems); i += step {
			s := normal(v.Elems[i])
			if step == 2 {
				s += "=" + normal(v.Elems[i+1])
			}
			parts = append(parts, s)
		}
		sort.Strings(parts)
		return "[" + strings.Join(parts, ",") + "]"
	case '_':
		return "nil"
	case '$', '+':
		if v.Null {
			return "nil"
		}
		return "s:" + string(v.Str)
	case ':':
		return "i:" + string(v.Str)
	}
	return string(v.Type) + string(v.Str)
}

func isEmpty(v resp.Value) bool {
	return v.Null || v.Type == '_' || (v.Type == ':' && v.Int == 0) || ((v.Type == '*' || v.Type == '~' || v.Type == '%') && len(v.Elems) == 0)
}

// hashKey is what logs show of a key: never the key itself.
func hashKey(k []byte) string {
	h := sha256.Sum256(k)
	return hex.EncodeToString(h[:8])
}
