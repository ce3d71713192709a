package migrate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"hotswap/dual"
	"hotswap/resp"
	"hotswap/translate"
)

// Kinds of difference verify reports.
const (
	DiffMissing = "missing" // in Redis, not in DynamoDB
	DiffExtra   = "extra"   // in DynamoDB, not in Redis
	DiffValue   = "value"
	DiffTTL     = "ttl"
	DiffType    = "type"
)

// DiffKinds lists the kinds in report order.
func DiffKinds() []string { return []string{DiffMissing, DiffExtra, DiffValue, DiffTTL, DiffType} }

// Defaults of VerifyOptions.
const (
	DefaultRecheckDelay = 500 * time.Millisecond
	DefaultExamples     = 5
	maxBatchGet         = 100
)

// VerifyOptions configure Verify.
type VerifyOptions struct {
	Mapping *translate.Mapping
	Family  string
	Redis   dual.Redis
	// DB is DynamoDB (never DAX: verify reads strongly).
	DB     translate.Store
	Logger *slog.Logger
	// Sample is the fraction of keys compared (0..1]; default 1.
	Sample float64
	// Repair copies the authoritative side over every confirmed difference: Redis at
	// off, dualwrite and shadow, DynamoDB at live, rampdown and complete.
	Repair bool
	// Concurrency is the number of pages compared at once (default DefaultConcurrency).
	Concurrency int
	// LogValues shows both sides of the examples; by default values are redacted.
	LogValues bool
	// Stage is the stage of a key's entity (default: the family's floor).
	Stage func(r *translate.Route) translate.Stage
	// RecheckDelay is the pause before a difference is read again (a concurrent write
	// is not a difference); default DefaultRecheckDelay.
	RecheckDelay time.Duration
	// Examples is the number of examples kept per kind (default DefaultExamples).
	Examples  int
	ScanCount int
	Keys      dual.RedisKeys
	Progress  ProgressOptions
	Now       func() time.Time
}

// Difference is one key that differs after the re-check.
type Difference struct {
	Key  []byte
	Kind string
	// Redis and DynamoDB render both sides (only with LogValues).
	Redis, DynamoDB string
	// Repaired: --repair copied the authoritative side and the key now agrees.
	Repaired bool
	// RepairError says why a repair did not make the key agree.
	RepairError string
}

// VerifyResult is a finished comparison.
type VerifyResult struct {
	// RedisKeys and DynamoKeys are the family's keys seen in each store (sampled),
	// Compared the distinct keys compared.
	RedisKeys, DynamoKeys, Compared uint64
	// Counts are the differences by kind, after the re-check.
	Counts map[string]uint64
	// Examples are a few differences of each kind.
	Examples []Difference
	// Repaired and RepairFailed count the repairs (with Repair).
	Repaired, RepairFailed uint64
	// Errors counts keys that could not be compared (read errors).
	Errors   uint64
	Duration time.Duration
}

// Differences is the number of keys that differed (after the re-check).
func (v VerifyResult) Differences() uint64 {
	var n uint64
	for _, c := range v.Counts {
		n += c
	}
	return n
}

// Remaining is the number of differences left: all of them without repair, those
// whose repair failed with it.
func (v VerifyResult) Remaining(repair bool) uint64 {
	if repair {
		return v.RepairFailed
	}
	return v.Differences()
}

// MismatchRate is differences / keys compared.
func (v VerifyResult) MismatchRate() float64 {
	if v.Compared == 0 {
		return 0
	}
	return float64(v.Differences()) / float64(v.Compared)
}

type verifier struct {
	o      *VerifyOptions
	fam    *translate.Family
	engine *translate.Engine
	c      Counters

	mu       sync.Mutex
	counts   map[string]uint64
	examples map[string][]Difference
	redisN   uint64
	dynamoN  uint64
	repaired uint64
	failed   uint64
}

// Verify compares the family's keys in Redis and DynamoDB, both ways: a SCAN of Redis
// compares every key with its item (strong reads), then a Scan of the table finds
// items whose key Redis does not hold (tombstones and expired items are no keys).
// Values are compared as shadow reads compare replies (dual.DiffKind: order of fields
// and members ignored, expiries within a second). A difference is read again after
// RecheckDelay before it counts. With Repair, the authoritative side is copied over
// and the key compared once more.
func Verify(ctx context.Context, o VerifyOptions) (VerifyResult, error) {
	if o.Mapping == nil || o.Redis == nil || o.DB == nil {
		return VerifyResult{}, errors.New("migrate: verify needs a mapping, Redis and DynamoDB")
	}
	fam := o.Mapping.Family(o.Family)
	if fam == nil {
		return VerifyResult{}, fmt.Errorf("the mapping has no family %q", o.Family)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Sample <= 0 || o.Sample > 1 {
		o.Sample = 1
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.Stage == nil {
		o.Stage = func(r *translate.Route) translate.Stage { return r.Family.Floor }
	}
	if o.RecheckDelay <= 0 {
		o.RecheckDelay = DefaultRecheckDelay
	}
	if o.Examples <= 0 {
		o.Examples = DefaultExamples
	}
	if o.ScanCount <= 0 {
		o.ScanCount = DefaultScanCount
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Progress.Labels == (Labels{}) {
		o.Progress.Labels = Labels{Copied: "compared", Newer: "rechecked", Skipped: "skipped", Unmigratable: "differences", Compare: true}
	}
	o.Keys = keysWithDefaults(o.Keys)
	eng, err := translate.NewEngine(translate.Options{Mapping: o.Mapping, DB: o.DB, Logger: o.Logger, Now: o.Now})
	if err != nil {
		return VerifyResult{}, err
	}
	v := &verifier{o: &o, fam: fam, engine: eng, counts: map[string]uint64{}, examples: map[string][]Difference{}}
	start := o.Now()
	if n, err := dbSize(ctx, o.Redis); err == nil {
		v.c.Estimate.Store(n)
	}
	pctx, pcancel := context.WithCancel(ctx)
	pdone := make(chan struct{})
	go func() {
		defer close(pdone)
		showProgress(pctx, &v.c, o.Progress, o.Logger, "verify "+o.Family)
	}()
	publish := publishVerify(ctx, o.DB, o.Mapping.Table, o.Family, &v.c, start, o.Now)
	err = v.walkRedis(ctx)
	if err == nil {
		err = v.walkDynamo(ctx)
	}
	publish(err == nil)
	pcancel()
	<-pdone
	res := v.result()
	res.Duration = o.Now().Sub(start)
	return res, err
}

func (v *verifier) result() VerifyResult {
	v.mu.Lock()
	defer v.mu.Unlock()
	s := v.c.Snapshot()
	res := VerifyResult{RedisKeys: v.redisN, DynamoKeys: v.dynamoN, Compared: s.Copied, Counts: map[string]uint64{},
		Repaired: v.repaired, RepairFailed: v.failed, Errors: s.Errors}
	for k, n := range v.counts {
		res.Counts[k] = n
	}
	for _, kind := range DiffKinds() {
		res.Examples = append(res.Examples, v.examples[kind]...)
	}
	return res
}

func (v *verifier) sampled() bool { return v.o.Sample >= 1 || rand.Float64() < v.o.Sample }

// pool runs f on items from a producer with Concurrency workers.
func pool[T any](ctx context.Context, n int, produce func(chan<- T) error, f func(T)) error {
	ch := make(chan T, n)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for x := range ch {
				if ctx.Err() == nil {
					f(x)
				}
			}
		}()
	}
	err := produce(ch)
	close(ch)
	wg.Wait()
	if err == nil {
		err = ctx.Err()
	}
	return err
}

type keyBatch struct {
	keys   [][]byte
	routes []translate.Route
}

// walkRedis compares every (sampled) key of the family that Redis holds.
func (v *verifier) walkRedis(ctx context.Context) error {
	o := v.o
	glob := v.fam.ScanGlob()
	own := map[string]bool{o.Keys.Journal: true, o.Keys.Clock: true, o.Keys.Version: true}
	return pool(ctx, o.Concurrency, func(out chan<- keyBatch) error {
		id, err := runID(ctx, o.Redis)
		if err != nil {
			return err
		}
		cursor := "0"
		for {
			next, keys, err := scanPage(ctx, o.Redis, cursor, glob, o.ScanCount)
			if err != nil {
				return err
			}
			if now, err := runID(ctx, o.Redis); err != nil {
				return err
			} else if now != id {
				return fmt.Errorf("redis restarted during verify (run_id %s → %s): run it again", id, now)
			}
			var b keyBatch
			for _, k := range keys {
				if own[string(k)] {
					continue
				}
				rt, ok, err := o.Mapping.Route(k)
				if !ok || err != nil || rt.Family != v.fam || !v.sampled() {
					continue
				}
				b.keys = append(b.keys, k)
				b.routes = append(b.routes, rt)
			}
			v.c.Seen.Add(uint64(len(b.keys)))
			if len(b.keys) > 0 {
				select {
				case out <- b:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			if next == "0" {
				return nil
			}
			cursor = next
		}
	}, func(b keyBatch) { v.compareBatch(ctx, b, false) })
}

// walkDynamo finds the family's items whose key Redis does not hold.
func (v *verifier) walkDynamo(ctx context.Context) error {
	o := v.o
	return pool(ctx, o.Concurrency, func(out chan<- keyBatch) error {
		var start map[string]types.AttributeValue
		for {
			res, err := o.DB.Scan(ctx, familyScan(o.Mapping.Table, v.fam, o.ScanCount, start))
			if err != nil {
				return fmt.Errorf("scan the table: %w", err)
			}
			now := o.Now().UnixMilli()
			var b keyBatch
			for _, it := range res.Items {
				key, rt, ok := familyItem(o.Mapping, v.fam, it)
				if !ok {
					continue
				}
				st, err := translate.DecodeItem(&rt, it)
				if err != nil || st.Live(now) == nil || !v.sampled() {
					continue
				}
				b.keys = append(b.keys, key)
				b.routes = append(b.routes, rt)
			}
			v.mu.Lock()
			v.dynamoN += uint64(len(b.keys))
			v.mu.Unlock()
			if len(b.keys) > 0 {
				select {
				case out <- b:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			if len(res.LastEvaluatedKey) == 0 {
				return nil
			}
			start = res.LastEvaluatedKey
		}
	}, func(b keyBatch) { v.compareBatch(ctx, b, true) })
}

// sides are one key's two states.
type sides struct {
	redis  redisState
	dynamo *translate.Value // live value; nil: no item, a tombstone or expired
}

// compareBatch compares a batch of keys; extrasOnly (the table walk) looks only at
// keys Redis does not hold, the others were compared by the Redis walk.
func (v *verifier) compareBatch(ctx context.Context, b keyBatch, extrasOnly bool) {
	got, err := v.read(ctx, b)
	if err != nil {
		v.c.Errors.Add(uint64(len(b.keys)))
		v.o.Logger.Warn("could not compare keys", "keys", len(b.keys), "err", err)
		return
	}
	var again keyBatch
	for i := range b.keys {
		if extrasOnly && (got[i].redis.val != nil || got[i].redis.bad) {
			continue // in Redis too: the Redis walk compared it
		}
		if !extrasOnly {
			v.mu.Lock()
			v.redisN++
			v.mu.Unlock()
		}
		v.c.Copied.Add(1)
		if kind(got[i]) != "" {
			again.keys = append(again.keys, b.keys[i])
			again.routes = append(again.routes, b.routes[i])
		}
	}
	if len(again.keys) == 0 {
		return
	}
	v.c.Newer.Add(uint64(len(again.keys)))
	if sleep(ctx, v.o.RecheckDelay) != nil {
		return
	}
	got, err = v.read(ctx, again)
	if err != nil {
		v.c.Errors.Add(uint64(len(again.keys)))
		v.o.Logger.Warn("could not re-check keys", "keys", len(again.keys), "err", err)
		return
	}
	for i := range again.keys {
		if k := kind(got[i]); k != "" {
			v.confirmed(ctx, again.keys[i], &again.routes[i], k, got[i])
		}
	}
}

// read reads both sides of a batch (DynamoDB with BatchGetItem, strongly).
func (v *verifier) read(ctx context.Context, b keyBatch) ([]sides, error) {
	states, _, err := readStates(ctx, v.o.Redis, v.o.Keys, b.keys, false)
	if err != nil {
		return nil, err
	}
	items, err := batchGet(ctx, v.o.DB, v.o.Mapping.Table, b.routes)
	if err != nil {
		return nil, err
	}
	now := v.o.Now().UnixMilli()
	out := make([]sides, len(b.keys))
	for i := range b.keys {
		out[i].redis = states[i]
		if it := items[[2]string{b.routes[i].PK, b.routes[i].SK}]; it != nil {
			st, err := translate.DecodeItem(&b.routes[i], it)
			if err != nil {
				return nil, fmt.Errorf("decode the item of %q: %w", b.keys[i], err)
			}
			out[i].dynamo = st.Live(now)
		}
	}
	return out, nil
}

// batchGet reads items strongly, 100 a call, asking again for unprocessed keys.
func batchGet(ctx context.Context, db translate.Store, table string, routes []translate.Route) (map[[2]string]map[string]types.AttributeValue, error) {
	found := make(map[[2]string]map[string]types.AttributeValue, len(routes))
	for start := 0; start < len(routes); start += maxBatchGet {
		var keys []map[string]types.AttributeValue
		seen := map[[2]string]bool{}
		for i := start; i < min(len(routes), start+maxBatchGet); i++ {
			k := [2]string{routes[i].PK, routes[i].SK}
			if !seen[k] {
				seen[k] = true
				keys = append(keys, translate.ItemKey(&routes[i]))
			}
		}
		in := &dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{table: {Keys: keys, ConsistentRead: aws.Bool(true)}}}
		for attempt := 1; ; attempt++ {
			out, err := db.BatchGetItem(ctx, in)
			if err != nil {
				return nil, fmt.Errorf("batch get item: %w", err)
			}
			for _, it := range out.Responses[table] {
				pk, _ := it[translate.AttrPK].(*types.AttributeValueMemberS)
				sk, _ := it[translate.AttrSK].(*types.AttributeValueMemberS)
				if pk != nil && sk != nil {
					found[[2]string{pk.Value, sk.Value}] = it
				}
			}
			un, ok := out.UnprocessedKeys[table]
			if !ok || len(un.Keys) == 0 {
				break
			}
			if err := backoff(ctx, attempt, 20*time.Millisecond, 2*time.Second); err != nil {
				return nil, err
			}
			in = &dynamodb.BatchGetItemInput{RequestItems: out.UnprocessedKeys}
		}
	}
	return found, nil
}

// kind compares one key's two states: "" when they agree.
func kind(s sides) string {
	r, d := s.redis, s.dynamo
	switch {
	case r.bad:
		return DiffType // Redis holds a type no family can: never the same
	case r.val == nil && d == nil:
		return ""
	case r.val == nil:
		return DiffExtra
	case d == nil:
		return DiffMissing
	case r.val.Kind != d.Kind:
		return DiffType
	}
	cmd, a := render(r.val)
	_, b := render(d)
	if dual.DiffKind(cmd, a, b) != "" {
		return DiffValue
	}
	if dual.DiffKind("pexpiretime", resp.AppendInt(nil, expiry(r.val)), resp.AppendInt(nil, expiry(d))) != "" {
		return DiffTTL
	}
	return ""
}

func expiry(v *translate.Value) int64 {
	if v.ExpireAt > 0 {
		return v.ExpireAt
	}
	return -1
}

// render is the reply of the read command that returns a value whole (RESP2), so it
// compares as a shadow read would.
func render(v *translate.Value) (string, []byte) {
	switch v.Kind {
	case translate.KindString:
		return "get", resp.AppendBulk(nil, v.Str)
	case translate.KindHash:
		b := resp.AppendArrayHeader(nil, 2*len(v.Hash))
		for f, x := range v.Hash {
			b = resp.AppendBulk(b, []byte(f))
			b = resp.AppendBulk(b, x)
		}
		return "hgetall", b
	case translate.KindSet:
		b := resp.AppendArrayHeader(nil, len(v.Set))
		for m := range v.Set {
			b = resp.AppendBulk(b, []byte(m))
		}
		return "smembers", b
	}
	return "get", resp.AppendNullBulk(nil)
}

// describe renders a state for an example (values shown only with LogValues):
// fields and members sorted, bytes Go-quoted.
func describe(v *translate.Value, bad string) string {
	switch {
	case bad != "":
		return "type " + bad
	case v == nil:
		return "(none)"
	}
	var parts []string
	switch v.Kind {
	case translate.KindString:
		parts = append(parts, strconv.Quote(string(v.Str)))
	case translate.KindHash:
		for f, x := range v.Hash {
			parts = append(parts, strconv.Quote(f)+"="+strconv.Quote(string(x)))
		}
	case translate.KindSet:
		for m := range v.Set {
			parts = append(parts, strconv.Quote(m))
		}
	}
	slices.Sort(parts)
	s := v.Kind.String() + " {" + strings.Join(parts, " ") + "}"
	if v.ExpireAt > 0 {
		s += " expires " + time.UnixMilli(v.ExpireAt).UTC().Format(time.RFC3339Nano)
	}
	return s
}

// confirmed records a difference that survived the re-check, and repairs it.
func (v *verifier) confirmed(ctx context.Context, key []byte, rt *translate.Route, k string, s sides) {
	v.c.Unmigratable.Add(1)
	d := Difference{Key: append([]byte(nil), key...), Kind: k}
	if v.o.LogValues {
		bad := ""
		if s.redis.bad {
			bad = s.redis.typ
		}
		d.Redis, d.DynamoDB = describe(s.redis.val, bad), describe(s.dynamo, "")
	}
	if v.o.Repair {
		if err := v.repair(ctx, key, rt, s); err != nil {
			d.RepairError = err.Error()
			v.o.Logger.Warn("repair failed", "key_hash", dual.HashKey(key), "kind", k, "err", err)
		} else {
			d.Repaired = true
		}
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.counts[k]++
	if d.Repaired {
		v.repaired++
	} else if v.o.Repair {
		v.failed++
	}
	if len(v.examples[k]) < v.o.Examples {
		v.examples[k] = append(v.examples[k], d)
	}
}

// raiseClockScript raises hotswap's clock (KEYS[1]) to ARGV[1]: the next version taken
// is newer than a DynamoDB item's.
const raiseClockScript = `if tonumber(redis.call('GET', KEYS[1]) or '0') < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) end return 1`

// lowerAppliedScript sets a key's entry in the versions hash (KEYS[2]) to ARGV[2] if it
// still holds ARGV[1] ("0": none): Redis' copy differs from DynamoDB's state at a
// version Redis claims to have applied (it was changed outside hotswap).
const lowerAppliedScript = `if (redis.call('HGET', KEYS[2], KEYS[1]) or '0') == ARGV[1] then redis.call('HSET', KEYS[2], KEYS[1], ARGV[2]) return 1 end return 0`

// repair copies the authoritative side of one key over the other, then compares again.
func (v *verifier) repair(ctx context.Context, key []byte, rt *translate.Route, s sides) error {
	o := v.o
	if !o.Stage(rt).DynamoAuthoritative() {
		// Redis is authoritative: its state, with a fresh version, over DynamoDB's.
		for attempt := 0; attempt < 2; attempt++ {
			states, ver, err := readStates(ctx, o.Redis, o.Keys, [][]byte{key}, true)
			if err != nil {
				return err
			}
			if states[0].bad {
				return fmt.Errorf("redis holds a %s, which DynamoDB families cannot hold", states[0].typ)
			}
			applied, err := v.engine.ApplyState(ctx, rt, key, states[0].val, ver)
			if err != nil {
				return err
			}
			if applied {
				break
			}
			// DynamoDB holds a version above Redis' clock (written directly, or the
			// clock was lost): raise the clock past it and copy again.
			_, dver, err := v.engine.ReadState(ctx, rt, key)
			if err != nil {
				return err
			}
			if _, err := newScript(raiseClockScript).run(ctx, o.Redis, [][]byte{[]byte(o.Keys.Clock)}, []byte(strconv.FormatInt(dver, 10))); err != nil {
				return err
			}
		}
	} else {
		// DynamoDB is authoritative: its state over Redis', as the syncer copies it.
		val, ver, err := v.engine.ReadState(ctx, rt, key)
		if err != nil {
			return err
		}
		if ver == 0 {
			// No item at all: delete the Redis key unless a copy arrived meanwhile.
			applied := []byte(strconv.FormatInt(s.redis.applied, 10))
			if _, err := deleteIfScriptRun.run(ctx, o.Redis, [][]byte{key, []byte(o.Keys.Version)}, applied); err != nil {
				return err
			}
		} else {
			applied, err := dual.ApplyToRedis(ctx, o.Redis, o.Keys, key, val, ver)
			if err != nil {
				return err
			}
			if !applied {
				states, _, err := readStates(ctx, o.Redis, o.Keys, [][]byte{key}, false)
				if err != nil {
					return err
				}
				cur := []byte(strconv.FormatInt(states[0].applied, 10))
				if _, err := newScript(lowerAppliedScript).run(ctx, o.Redis, [][]byte{key, []byte(o.Keys.Version)}, cur, []byte(strconv.FormatInt(ver-1, 10))); err != nil {
					return err
				}
				if _, err := dual.ApplyToRedis(ctx, o.Redis, o.Keys, key, val, ver); err != nil {
					return err
				}
			}
		}
	}
	got, err := v.read(ctx, keyBatch{keys: [][]byte{key}, routes: []translate.Route{*rt}})
	if err != nil {
		return fmt.Errorf("re-read after repair: %w", err)
	}
	if k := kind(got[0]); k != "" {
		return fmt.Errorf("still differs after repair (%s)", k)
	}
	return nil
}
