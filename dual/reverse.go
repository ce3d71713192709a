package dual

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"hotswap/resp"
	"hotswap/translate"
)

// The live and rampdown stages: DynamoDB is authoritative and Redis the copy, kept
// for a rollback to shadow. Before the DynamoDB write the session records the intent
// in the journal (Intent: one Redis round trip, a write-ahead entry); after the commit
// the engine hands each written key's whole state and version to Written, and a
// worker applies it to Redis with applyScript, which replaces the key only if the
// version it last applied for that key is older, and raises the clock so that writes
// after a rollback to Redis authority carry larger versions than any DynamoDB wrote.

// applyScript: KEYS[1] key, KEYS[2] version hash, KEYS[3] clock, KEYS[4] journal;
// ARGV[1] version, ARGV[2] token, ARGV[3] type (string, hash, set, none), ARGV[4]
// expiry (Unix ms, 0 none), then the value: the string, field value pairs, or members.
const applyScript = `
local v = tonumber(ARGV[1])
local cur = tonumber(redis.call('HGET', KEYS[2], KEYS[1]) or '0')
if cur < v then
  redis.call('DEL', KEYS[1])
  local t = ARGV[3]
  if t == 'string' then redis.call('SET', KEYS[1], ARGV[5])
  elseif t == 'hash' then
    for i = 5, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i+1]) end
  elseif t == 'set' then
    for i = 5, #ARGV do redis.call('SADD', KEYS[1], ARGV[i]) end
  end
  local e = tonumber(ARGV[4])
  if t ~= 'none' and e > 0 then redis.call('PEXPIREAT', KEYS[1], e) end
  redis.call('HSET', KEYS[2], KEYS[1], v)
  if tonumber(redis.call('GET', KEYS[3]) or '0') < v then redis.call('SET', KEYS[3], v) end
end
if redis.call('HGET', KEYS[4], KEYS[1]) == ARGV[2] then redis.call('HDEL', KEYS[4], KEYS[1]) end
return cur < v and 1 or 0`

// DefaultVersionKey is the hash of the versions applied to Redis in the live and
// rampdown stages (key → version): one field per key written while DynamoDB is
// authoritative, about 60 bytes each.
const DefaultVersionKey = "hotswap:versions"

// Intent records in the journal, before a DynamoDB-authoritative write, that keys must
// be copied to Redis. If Redis cannot be reached the write goes ahead (DynamoDB is
// authoritative) and the keys are remembered in memory for the repairer; the error is
// returned for the caller to count.
func (s *Syncer) Intent(ctx context.Context, keys [][]byte, routes []translate.Route) (string, error) {
	token := s.Token()
	if s.o.Now().UnixMilli() < s.redisOpenUntil.Load() {
		// Redis keeps failing: don't make clients wait on it.
		s.rememberLost(keys, routes)
		return token, errors.New("dual: record intent: Redis breaker open")
	}
	args := [][]byte{[]byte("HSET"), []byte(s.o.JournalKey)}
	for _, k := range keys {
		args = append(args, k, []byte(token))
	}
	ctx, cancel := context.WithTimeout(ctx, s.o.IntentTimeout)
	defer cancel()
	v, err := s.o.Redis.Do(ctx, resp.AppendCommand(nil, args...))
	if err == nil && v.IsError() {
		err = v.Err()
	}
	if err != nil {
		if s.redisFailures.Add(1) >= breakerThreshold {
			s.redisOpenUntil.Store(s.o.Now().Add(breakerOpenFor).UnixMilli())
		}
		s.rememberLost(keys, routes)
		return token, fmt.Errorf("dual: record intent: %w", err)
	}
	s.redisFailures.Store(0)
	return token, nil
}

// Written queues the copy of a key DynamoDB committed to Redis.
func (s *Syncer) Written(key []byte, r *translate.Route, v *translate.Value, version int64, token string) {
	rt := *r
	rt.Entity = nil
	k := append([]byte(nil), key...)
	// In flight until a worker has applied it (or it is dropped): a repair of the
	// key meanwhile may read DynamoDB before this write and clear its journal
	// entry, so only the mark tells an authority change to wait for this copy.
	s.Begin([][]byte{k})
	if !s.enqueue(job{key: k, route: rt, val: v, version: version, token: token, toRedis: true}) {
		s.End([][]byte{k})
	}
}

// applyRedis applies one state to Redis.
func (s *Syncer) applyRedis(ctx context.Context, j job) error {
	args := [][]byte{[]byte("EVAL"), []byte(applyScript), []byte("4"), j.key,
		[]byte(s.o.VersionKey), []byte(s.o.ClockKey), []byte(s.o.JournalKey),
		strconv.AppendInt(nil, j.version, 10), []byte(j.token)}
	switch {
	case j.val == nil:
		args = append(args, []byte("none"), []byte("0"))
	default:
		args = append(args, []byte(j.val.Kind.String()), strconv.AppendInt(nil, j.val.ExpireAt, 10))
		switch j.val.Kind {
		case translate.KindString:
			args = append(args, j.val.Str)
		case translate.KindHash:
			for f, x := range j.val.Hash {
				args = append(args, []byte(f), x)
			}
		case translate.KindSet:
			for m := range j.val.Set {
				args = append(args, []byte(m))
			}
		}
	}
	v, err := s.o.Redis.Do(ctx, resp.AppendCommand(nil, args...))
	if err == nil && v.IsError() {
		err = v.Err()
	}
	if err != nil {
		return fmt.Errorf("dual: apply to redis: %w", err)
	}
	if v.Int == 1 {
		s.applied.Add(1)
	} else {
		s.superseded.Add(1)
	}
	return nil
}

// repairToRedis copies DynamoDB's current state of a key to Redis.
func (s *Syncer) repairToRedis(ctx context.Context, key []byte, r translate.Route, token string) error {
	val, version, err := s.o.Engine.ReadState(ctx, &r, key)
	if err != nil {
		return fmt.Errorf("dual: read key %s from dynamodb: %w", hashKey(key), err)
	}
	if err := s.applyRedis(ctx, job{key: key, route: r, val: val, version: version, token: token, toRedis: true}); err != nil {
		return err
	}
	s.repaired.Add(1)
	return nil
}

// rememberLost keeps keys whose intent could not be journalled (Redis down), for the
// repairer to copy once Redis answers; bounded, and counted when it overflows.
func (s *Syncer) rememberLost(keys [][]byte, routes []translate.Route) {
	s.lostMu.Lock()
	defer s.lostMu.Unlock()
	if s.lost == nil {
		s.lost = map[string]translate.Route{}
	}
	for i, k := range keys {
		if len(s.lost) >= maxLost {
			s.lostOverflow.Add(1)
			return
		}
		r := routes[i]
		r.Entity = nil
		s.lost[string(k)] = r
	}
}

// maxLost bounds the keys remembered while Redis is unreachable.
const maxLost = 100000

// repairLost journals and copies the remembered keys once Redis answers.
func (s *Syncer) repairLost(ctx context.Context) error {
	s.lostMu.Lock()
	lost := s.lost
	s.lost = nil
	s.lostMu.Unlock()
	for k, r := range lost {
		token := s.Token()
		if err := s.repairToRedis(ctx, []byte(k), r, token); err != nil {
			s.lostMu.Lock()
			if s.lost == nil {
				s.lost = map[string]translate.Route{}
			}
			for k2, r2 := range lost {
				s.lost[k2] = r2
			}
			s.lostMu.Unlock()
			return err
		}
	}
	return nil
}
