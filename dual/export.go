package dual

import (
	"context"
	"fmt"

	"hotswap/resp"
	"hotswap/translate"
)

// This file exports what the migration tools (package migrate: backfill, reverse
// backfill, verify --repair) share with the syncer, so that they compare and copy
// exactly as it does.

// DiffKind compares two RESP2 replies to the same read command (lower-case name) the
// way shadow reads do: "" when they agree after normalising what Redis leaves
// unordered (HGETALL, SMEMBERS, ...) and, for ttl/pttl/expiretime/pexpiretime, within
// a tolerance of one second; otherwise "missing", "type", "ttl" or "value".
func DiffKind(cmd string, a, b []byte) string { return diffKind(cmd, a, b) }

// HashKey is how logs show a key: a short hash, never the key itself.
func HashKey(k []byte) string { return hashKey(k) }

// RedisKeys are hotswap's own keys in Redis' db 0 (the Options defaults when empty).
type RedisKeys struct {
	Journal, Clock, Version string
}

func (k RedisKeys) withDefaults() RedisKeys {
	if k.Journal == "" {
		k.Journal = DefaultJournalKey
	}
	if k.Clock == "" {
		k.Clock = DefaultClockKey
	}
	if k.Version == "" {
		k.Version = DefaultVersionKey
	}
	return k
}

// ApplyToRedis writes a key's whole state, read from DynamoDB with its version, to
// Redis as the syncer does in the live and rampdown stages: the key is replaced only
// if the version Redis last applied for it (the versions hash) is older, and the clock
// is raised to the version. v nil deletes the key. It reports whether the state was
// applied (false: Redis already had this version or a newer one).
func ApplyToRedis(ctx context.Context, rd Redis, keys RedisKeys, key []byte, v *translate.Value, version int64) (bool, error) {
	keys = keys.withDefaults()
	s := &Syncer{o: Options{Redis: rd, JournalKey: keys.Journal, ClockKey: keys.Clock, VersionKey: keys.Version}}
	if err := s.applyRedis(ctx, job{key: key, val: v, version: version, toRedis: true}); err != nil {
		return false, fmt.Errorf("dual: apply %q to redis: %w", key, err)
	}
	return s.applied.Load() == 1, nil
}

// DecodeState turns one {type, expiretime_ms, value} triple, as the capture script
// returns it per key (TYPE, PEXPIRETIME, then GET, HGETALL or SMEMBERS), into a Value:
// nil for a missing key; ok is false for a type DynamoDB families cannot hold (list,
// zset, stream, ...).
func DecodeState(e resp.Value) (v *translate.Value, ok bool) { return decodeState(e) }
