// Package dual keeps DynamoDB in step with Redis while Redis is authoritative (the
// dualwrite and shadow stages, DESIGN.md §3 and §5).
//
// A write on a key of such a family goes to Redis followed, in the same segment on the
// same connection, by the capture script (Capture): it records the intent to sync the
// key in the journal (a Redis hash: key → token), takes a fresh value of a global clock
// (INCR) as the state's version, and reads the key's whole state (type, value, expiry
// time). The two commands are written to Redis together, so once Redis has the write it
// also has the intent, even if hotswap dies before it reads the replies. The Syncer
// then copies the state to DynamoDB with a conditional PutItem that applies only if
// the item's version is older (translate.Engine.ApplyState), and clears the journal
// entry if it still holds the same token. The version is the clock value read in the
// same atomic step as the state, so of two copies of one key the later state always
// carries the larger version, whichever arrives first.
//
// Nothing escapes: a copy that fails (DynamoDB down, throttled, the queue full, a
// crash) leaves its journal entry, and the repairer, on every instance, re-captures
// and copies entries older than RepairAge, with backoff. A circuit breaker stops the
// workers from calling a DynamoDB that keeps failing; clients never wait on the copy,
// which is off the reply path.
//
// Writes hotswap forwards untranslated (EVAL with family keys, RENAME, SORT ... STORE)
// are captured the same way: the capture reads the state after whatever the command
// did.
package dual

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"hotswap/resp"
	"hotswap/translate"
)

// Defaults of Options.
const (
	DefaultJournalKey     = "hotswap:journal"
	DefaultClockKey       = "hotswap:clock"
	DefaultQueue          = 10000
	DefaultWorkers        = 16
	DefaultRepairInterval = time.Second
	DefaultRepairAge      = 5 * time.Second
	breakerThreshold      = 5
	breakerOpenFor        = 2 * time.Second
)

// captureScript: KEYS are the keys written; ARGV[1] the clock key, ARGV[2] the journal
// key, ARGV[3] the token. It returns {version, {type, expiretime_ms, value}...}.
// PEXPIRETIME is -1 without expiry; the value is GET, HGETALL (flat) or SMEMBERS, and
// nil for other types, which cannot be migrated.
const captureScript = `
local v = redis.call('INCR', ARGV[1])
local out = {v}
for i, k in ipairs(KEYS) do
  redis.call('HSET', ARGV[2], k, ARGV[3])
  local t = redis.call('TYPE', k)['ok']
  local e = redis.call('PEXPIRETIME', k)
  local val = false
  if t == 'string' then val = redis.call('GET', k)
  elseif t == 'hash' then val = redis.call('HGETALL', k)
  elseif t == 'set' then val = redis.call('SMEMBERS', k) end
  out[#out+1] = {t, e, val}
end
return out`

// clearScript deletes a journal entry only if it still holds the token the copy was
// made for: a newer write has re-journalled the key otherwise.
const clearScript = `if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then return redis.call('HDEL', KEYS[1], ARGV[1]) end return 0`

// Redis runs hotswap's own commands (one RESP-encoded command, decoded reply).
type Redis interface {
	Do(ctx context.Context, cmd []byte) (resp.Value, error)
}

// Options configure a Syncer.
type Options struct {
	Engine *translate.Engine
	Redis  Redis
	Logger *slog.Logger
	// JournalKey, ClockKey and VersionKey are hotswap's keys in Redis' db 0.
	JournalKey, ClockKey, VersionKey string
	// Stage tells the stage of a key's entity now: the repairer copies toward
	// DynamoDB while Redis is authoritative and toward Redis after (default: the
	// family's floor).
	Stage func(r *translate.Route) translate.Stage
	// Instance names this process in journal tokens; default: random.
	Instance string
	// Queue bounds the copies waiting for a worker; past it a copy is left to the
	// repairer (its journal entry stays). Workers copy in parallel.
	Queue, Workers int
	// RepairInterval is how often the repairer scans the journal; RepairAge how old an
	// entry must be before the repairer takes it (younger ones are in flight).
	// RepairInterval 0 means the default; negative turns the repairer off (tests).
	RepairInterval, RepairAge time.Duration
	// IntentTimeout bounds the write-ahead journal entry of a DynamoDB-authoritative
	// write (default 100ms): past it the write goes ahead and the keys are remembered.
	IntentTimeout time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Stats are a Syncer's counters.
type Stats struct {
	Queued       uint64 `json:"queued"`
	Applied      uint64 `json:"applied"`       // copies written
	Superseded   uint64 `json:"superseded"`    // copies DynamoDB already had a newer version of
	Coalesced    uint64 `json:"coalesced"`     // copies skipped for a newer one of the same key queued behind
	Failed       uint64 `json:"failed"`        // copies that failed (left to the repairer)
	Dropped      uint64 `json:"dropped"`       // copies not queued (queue full, breaker open)
	Repaired     uint64 `json:"repaired"`      // journal entries the repairer copied
	Unmigratable uint64 `json:"unmigratable"`  // keys of a type DynamoDB families cannot hold
	JournalDepth int64  `json:"journal_depth"` // entries at the last repairer pass
	OldestAgeMS  int64  `json:"journal_oldest_age_ms"`
	BreakerOpen  bool   `json:"breaker_open"`
}

// Syncer copies captured states to DynamoDB and drains the journal.
type Syncer struct {
	o   Options
	log *slog.Logger
	seq atomic.Uint64

	mu         sync.RWMutex // guards closed and sends on queue
	closed     bool
	queue      chan job
	stopRepair chan struct{} // closed by Close: the repairer stops

	inflight  [inflightShards]inflightShard // keys with a write in flight (Begin, End)
	newest    [inflightShards]newestShard   // newest queued copy per key (coalesce.go)
	coalesced atomic.Uint64

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	failures  atomic.Int64 // consecutive
	openUntil atomic.Int64 // unix ms the breaker stays open until

	queued, applied, superseded, failed, dropped, repaired, unmigratable atomic.Uint64
	depth, oldest                                                        atomic.Int64

	lostMu       sync.Mutex
	lost         map[string]translate.Route // keys whose intent Redis did not take
	lostOverflow atomic.Uint64

	redisFailures  atomic.Int64 // consecutive intent failures
	redisOpenUntil atomic.Int64 // unix ms: intents skip Redis until then
}

// job is one key's captured state.
type job struct {
	key     []byte
	route   translate.Route
	val     *translate.Value // nil: the key does not exist
	version int64
	token   string
	toRedis bool // a DynamoDB-authoritative write copied to Redis
}

// New returns a Syncer; Open starts it.
func New(o Options) *Syncer {
	if o.JournalKey == "" {
		o.JournalKey = DefaultJournalKey
	}
	if o.ClockKey == "" {
		o.ClockKey = DefaultClockKey
	}
	if o.VersionKey == "" {
		o.VersionKey = DefaultVersionKey
	}
	if o.Stage == nil {
		o.Stage = func(r *translate.Route) translate.Stage { return r.Family.Floor }
	}
	if o.Instance == "" {
		var b [4]byte
		_, _ = rand.Read(b[:])
		o.Instance = hex.EncodeToString(b[:])
	}
	if o.Queue <= 0 {
		o.Queue = DefaultQueue
	}
	if o.Workers <= 0 {
		o.Workers = DefaultWorkers
	}
	if o.RepairInterval == 0 {
		o.RepairInterval = DefaultRepairInterval
	}
	if o.RepairAge <= 0 {
		o.RepairAge = DefaultRepairAge
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.IntentTimeout <= 0 {
		o.IntentTimeout = 100 * time.Millisecond
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Syncer{o: o, log: log, queue: make(chan job, o.Queue), stopRepair: make(chan struct{})}
}

// Open starts the workers and the repairer.
func (s *Syncer) Open(ctx context.Context) {
	s.ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	for i := 0; i < s.o.Workers; i++ {
		s.wg.Add(1)
		go s.worker()
	}
	if s.o.RepairInterval > 0 {
		s.wg.Add(1)
		go s.repairLoop()
	}
}

// Close stops taking copies and waits, up to ctx, for the queued ones; what is left
// stays in the journal for the next start or another instance.
func (s *Syncer) Close(ctx context.Context) error {
	if s.cancel == nil {
		return nil
	}
	s.mu.Lock()
	s.closed = true
	close(s.queue)
	close(s.stopRepair)
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		// Workers drain the queue, then exit; the repairer exits at its next wait.
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		s.cancel()
		return nil
	case <-ctx.Done():
		s.cancel()
		<-done
		return fmt.Errorf("dual: close: %d copies left to the journal: %w", len(s.queue), ctx.Err())
	}
}

// Stats returns the counters.
func (s *Syncer) Stats() Stats {
	return Stats{
		Queued: s.queued.Load(), Applied: s.applied.Load(), Superseded: s.superseded.Load(), Coalesced: s.coalesced.Load(),
		Failed: s.failed.Load(), Dropped: s.dropped.Load(), Repaired: s.repaired.Load(),
		Unmigratable: s.unmigratable.Load(), JournalDepth: s.depth.Load(), OldestAgeMS: s.oldest.Load(),
		BreakerOpen: s.o.Now().UnixMilli() < s.openUntil.Load(),
	}
}

// Token returns a new journal token: instance, time in ms, sequence.
func (s *Syncer) Token() string {
	return s.o.Instance + ":" + strconv.FormatInt(s.o.Now().UnixMilli(), 10) + ":" + strconv.FormatUint(s.seq.Add(1), 10)
}

// Capture returns the command that records the intent to sync keys and reads their
// state: send it right after the write, in the same segment.
func (s *Syncer) Capture(keys [][]byte, token string) []byte {
	args := make([][]byte, 0, 3+len(keys)+3)
	args = append(args, []byte("EVAL"), []byte(captureScript), strconv.AppendInt(nil, int64(len(keys)), 10))
	args = append(args, keys...)
	args = append(args, []byte(s.o.ClockKey), []byte(s.o.JournalKey), []byte(token))
	return resp.AppendCommand(nil, args...)
}

// Captured takes the capture's raw reply and queues one copy per key. keys and routes
// are kept: the caller must not reuse them. A reply that is an error (the capture did
// not run) is logged; its keys are synced once more by a fresh capture in the
// background, which is all that can be done without a journal entry.
func (s *Syncer) Captured(keys [][]byte, routes []translate.Route, token string, reply []byte) {
	v, _, err := resp.Parse(reply)
	if err == nil && v.IsError() {
		err = v.Err()
	}
	if err == nil && (v.Type != '*' || len(v.Elems) != len(keys)+1) {
		// The reply holds the keys' values: never in an error that gets logged.
		err = fmt.Errorf("unexpected capture reply (type %q, %d elements)", v.Type, len(v.Elems))
	}
	if err != nil {
		s.log.Error("sync intent not recorded: re-capturing in the background", "keys", len(keys), "err", err)
		go s.recapture(keys, routes)
		return
	}
	version := v.Elems[0].Int
	for i, k := range keys {
		val, ok := decodeState(v.Elems[i+1])
		if !ok {
			s.unmigratable.Add(1)
			s.log.Warn("key of a family holds a type DynamoDB families cannot hold; it is not copied", "family", familyName(&routes[i]), "type", typeOf(v.Elems[i+1]))
			continue
		}
		s.enqueue(job{key: k, route: routes[i], val: val, version: version, token: token})
	}
}

// enqueue queues a copy for the workers; it reports whether it did.
func (s *Syncer) enqueue(j job) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed || s.breakerOpen() {
		s.dropped.Add(1)
		return false
	}
	s.noteQueued(&j)
	select {
	case s.queue <- j:
		s.queued.Add(1)
		return true
	default:
		s.dropped.Add(1) // the journal entry stays: the repairer copies it
		return false
	}
}

func (s *Syncer) breakerOpen() bool { return s.o.Now().UnixMilli() < s.openUntil.Load() }

func (s *Syncer) worker() {
	defer s.wg.Done()
	for j := range s.queue {
		if s.breakerOpen() {
			s.dropped.Add(1)
			if j.toRedis {
				s.End([][]byte{j.key})
			}
			continue
		}
		if s.stale(&j) {
			// A newer copy of the key is queued: it carries the whole state.
			s.coalesced.Add(1)
			if j.toRedis {
				s.End([][]byte{j.key})
			}
			continue
		}
		var err error
		if j.toRedis {
			err = s.applyRedis(s.ctx, j)
			s.End([][]byte{j.key}) // Begin in Written
		} else {
			err = s.copy(s.ctx, j)
		}
		s.noteDone(&j)
		if err != nil {
			s.failed.Add(1)
			s.log.Warn("secondary write to DynamoDB failed; the journal keeps it for the repairer", "family", familyName(&j.route), "err", err)
		}
	}
}

// copy applies one state and clears its journal entry.
func (s *Syncer) copy(ctx context.Context, j job) error {
	applied, err := s.o.Engine.ApplyState(ctx, &j.route, j.key, j.val, j.version)
	if err != nil {
		if s.failures.Add(1) >= breakerThreshold {
			s.openUntil.Store(s.o.Now().Add(breakerOpenFor).UnixMilli())
		}
		return err
	}
	s.failures.Store(0)
	if applied {
		s.applied.Add(1)
	} else {
		s.superseded.Add(1)
	}
	cmd := resp.AppendCommand(nil, []byte("EVAL"), []byte(clearScript), []byte("1"), []byte(s.o.JournalKey), j.key, []byte(j.token))
	if _, err := s.o.Redis.Do(ctx, cmd); err != nil {
		return fmt.Errorf("dual: clear journal entry: %w", err)
	}
	return nil
}

// recapture syncs keys whose capture failed: a fresh capture, then the copies.
func (s *Syncer) recapture(keys [][]byte, routes []translate.Route) {
	ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
	defer cancel()
	token := s.Token()
	reply, err := s.o.Redis.Do(ctx, s.Capture(keys, token))
	if err != nil {
		s.log.Error("re-capture failed: these keys may differ in DynamoDB until written again or verified", "keys", len(keys), "err", err)
		return
	}
	s.Captured(keys, routes, token, resp.AppendValue(nil, reply))
}

// repairLoop scans the journal and copies what is older than RepairAge.
func (s *Syncer) repairLoop() {
	defer s.wg.Done()
	backoff := s.o.RepairInterval
	t := time.NewTimer(s.o.RepairInterval)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-s.stopRepair:
			return
		case <-t.C:
		}
		if err := s.RepairOnce(s.ctx); err != nil && s.ctx.Err() == nil {
			s.log.Warn("journal repair pass failed", "err", err, "retry_in", backoff)
			backoff = min(backoff*2, 30*time.Second)
		} else {
			backoff = s.o.RepairInterval
		}
		t.Reset(backoff)
	}
}

// RepairOnce makes one pass over the journal: every entry older than RepairAge is
// captured afresh and copied. It also measures the journal's depth and oldest age.
func (s *Syncer) RepairOnce(ctx context.Context) error {
	if s.breakerOpen() {
		return errors.New("dual: DynamoDB breaker open")
	}
	if err := s.repairLost(ctx); err != nil {
		return err
	}
	m := s.o.Engine.Mapping()
	now := s.o.Now().UnixMilli()
	cursor := "0"
	var depth, oldest int64
	var firstErr error
	for {
		v, err := s.o.Redis.Do(ctx, resp.AppendCommandString(nil, "HSCAN", s.o.JournalKey, cursor, "COUNT", "200"))
		if err != nil {
			return fmt.Errorf("dual: scan journal: %w", err)
		}
		if v.IsError() || len(v.Elems) != 2 {
			return fmt.Errorf("dual: scan journal: %v", v.Err())
		}
		cursor = string(v.Elems[0].Str)
		items := v.Elems[1].Elems
		for i := 0; i+1 < len(items); i += 2 {
			depth++
			key, token := items[i].Str, string(items[i+1].Str)
			age := now - tokenTime(token)
			oldest = max(oldest, age)
			if age < s.o.RepairAge.Milliseconds() {
				continue
			}
			r, ok, err := m.Route(key)
			if err != nil || !ok {
				// No family any more: nothing to keep in step.
				s.clear(ctx, key, token)
				continue
			}
			// One key failing (throttled, timed out) does not stop the pass: the
			// others go on, and the pass reports the first error for backoff.
			if err := s.repairEntry(ctx, append([]byte(nil), key...), token, r); err != nil {
				if firstErr == nil {
					firstErr = err
				}
				if s.breakerOpen() || ctx.Err() != nil {
					return firstErr
				}
			}
		}
		if cursor == "0" {
			break
		}
	}
	s.depth.Store(depth)
	s.oldest.Store(oldest)
	return firstErr
}

func (s *Syncer) repairKey(ctx context.Context, key []byte, r translate.Route) error {
	token := s.Token()
	keys := [][]byte{append([]byte(nil), key...)}
	reply, err := s.o.Redis.Do(ctx, s.Capture(keys, token))
	if err != nil {
		return fmt.Errorf("dual: capture key %s: %w", hashKey(key), err)
	}
	if reply.IsError() || len(reply.Elems) != 2 {
		return fmt.Errorf("dual: capture key %s: %v", hashKey(key), reply.Err())
	}
	val, ok := decodeState(reply.Elems[1])
	if !ok {
		s.unmigratable.Add(1)
		s.clear(ctx, key, token)
		return nil
	}
	if err := s.copy(ctx, job{key: keys[0], route: r, val: val, version: reply.Elems[0].Int, token: token}); err != nil {
		return err
	}
	s.repaired.Add(1)
	return nil
}

func (s *Syncer) clear(ctx context.Context, key []byte, token string) {
	cmd := resp.AppendCommand(nil, []byte("EVAL"), []byte(clearScript), []byte("1"), []byte(s.o.JournalKey), key, []byte(token))
	_, _ = s.o.Redis.Do(ctx, cmd)
}

// tokenTime is the ms timestamp in a token (0 if unreadable: treated as old).
func tokenTime(token string) int64 {
	first, last := -1, -1
	for i := 0; i < len(token); i++ {
		if token[i] == ':' {
			if first < 0 {
				first = i
			} else {
				last = i
			}
		}
	}
	if first < 0 || last < 0 {
		return 0
	}
	n, _ := strconv.ParseInt(token[first+1:last], 10, 64)
	return n
}

// decodeState turns one {type, expiretime, value} element into a Value (nil for a
// missing key); ok is false for types DynamoDB families cannot hold.
func decodeState(e resp.Value) (*translate.Value, bool) {
	if len(e.Elems) < 2 {
		return nil, false
	}
	t := string(e.Elems[0].Str)
	exp := e.Elems[1].Int
	var v *translate.Value
	switch t {
	case "none":
		return nil, true
	case "string":
		if len(e.Elems) < 3 {
			return nil, false
		}
		v = translate.NewString(append([]byte(nil), e.Elems[2].Str...))
	case "hash":
		v = translate.NewHash()
		if len(e.Elems) >= 3 {
			f := e.Elems[2].Elems
			for i := 0; i+1 < len(f); i += 2 {
				v.Hash[string(f[i].Str)] = append([]byte(nil), f[i+1].Str...)
			}
		}
	case "set":
		v = translate.NewSet()
		if len(e.Elems) >= 3 {
			for _, m := range e.Elems[2].Elems {
				v.Set[string(m.Str)] = struct{}{}
			}
		}
	default:
		return nil, false
	}
	if exp > 0 {
		v.ExpireAt = exp
	}
	return v, true
}

func typeOf(e resp.Value) string {
	if len(e.Elems) == 0 {
		return "?"
	}
	return string(e.Elems[0].Str)
}

func familyName(r *translate.Route) string {
	if r.Family == nil {
		return ""
	}
	return r.Family.Name
}

// RedisFunc adapts a function to Redis.
type RedisFunc func(ctx context.Context, cmd []byte) (resp.Value, error)

// Do calls f.
func (f RedisFunc) Do(ctx context.Context, cmd []byte) (resp.Value, error) { return f(ctx, cmd) }

// journalOld journals keys with a token dated at the epoch, so the next repairer pass
// copies them (a shadow read found them different).
func (s *Syncer) journalOld(ctx context.Context, keys [][]byte) {
	token := s.o.Instance + ":0:" + strconv.FormatUint(s.seq.Add(1), 10)
	args := [][]byte{[]byte("HSET"), []byte(s.o.JournalKey)}
	for _, k := range keys {
		args = append(args, k, []byte(token))
	}
	if _, err := s.o.Redis.Do(ctx, resp.AppendCommand(nil, args...)); err != nil {
		s.log.Warn("could not journal keys a shadow read found different", "err", err)
	}
}
