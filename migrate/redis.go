package migrate

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"hotswap/dual"
	"hotswap/resp"
	"hotswap/translate"
)

// readScript reads the whole state of KEYS in one atomic step. ARGV[1] is the clock
// key: when not empty, the clock is incremented once and its new value is the
// version of every state read (the capture script's rule, dual.go: any write captured
// after this read gets a larger version). ARGV[2] is the versions hash (the version
// Redis last applied from DynamoDB). It returns {version, {type, pexpiretime, value,
// applied_version}...}; value is false for types families cannot hold.
const readScript = `
local ver = 0
if ARGV[1] ~= '' then ver = redis.call('INCR', ARGV[1]) end
local out = {ver}
for i, k in ipairs(KEYS) do
  local t = redis.call('TYPE', k)['ok']
  local e = redis.call('PEXPIRETIME', k)
  local val = false
  if t == 'string' then val = redis.call('GET', k)
  elseif t == 'hash' then val = redis.call('HGETALL', k)
  elseif t == 'set' then val = redis.call('SMEMBERS', k) end
  local hv = tonumber(redis.call('HGET', ARGV[2], k) or '0') or 0
  out[#out+1] = {t, e, val, hv}
end
return out`

// deleteIfScript deletes KEYS[1] and its versions-hash entry (KEYS[2]) only if that
// entry still holds ARGV[1] ("0": no entry): DynamoDB has no item for the key, and no
// copy from DynamoDB has reached Redis since the key was read.
const deleteIfScript = `
local cur = redis.call('HGET', KEYS[2], KEYS[1]) or '0'
if cur ~= ARGV[1] then return 0 end
redis.call('HDEL', KEYS[2], KEYS[1])
return redis.call('DEL', KEYS[1])`

// script is a Lua script run with EVALSHA, falling back to EVAL when Redis does not
// have it cached (first use, or after a restart).
type script struct{ src, sha []byte }

func newScript(src string) script {
	h := sha1.Sum([]byte(src))
	return script{src: []byte(src), sha: []byte(hex.EncodeToString(h[:]))}
}

func (s script) run(ctx context.Context, rd dual.Redis, keys [][]byte, args ...[]byte) (resp.Value, error) {
	call := func(verb, body []byte) (resp.Value, error) {
		cmd := make([][]byte, 0, 3+len(keys)+len(args))
		cmd = append(cmd, verb, body, strconv.AppendInt(nil, int64(len(keys)), 10))
		cmd = append(cmd, keys...)
		cmd = append(cmd, args...)
		return rd.Do(ctx, resp.AppendCommand(nil, cmd...))
	}
	v, err := call([]byte("EVALSHA"), s.sha)
	if err == nil && v.IsError() && bytes.HasPrefix(v.Str, []byte("NOSCRIPT")) {
		v, err = call([]byte("EVAL"), s.src)
	}
	if err == nil && v.IsError() {
		err = v.Err()
	}
	if err != nil {
		return resp.Value{}, fmt.Errorf("redis: script: %w", err)
	}
	return v, nil
}

// redisState is one key's state as readScript returns it.
type redisState struct {
	val *translate.Value // nil: the key does not exist
	// typ is Redis' TYPE ("none", "string", "hash", "set", "list", ...); val is nil and
	// bad is set for the types families cannot hold.
	typ string
	bad bool
	// applied is the version Redis last applied from DynamoDB (the versions hash).
	applied int64
}

// readStates reads keys' states atomically. newVersion takes a fresh clock value as the
// version of the states (backfill, repair toward DynamoDB); verify reads without one.
func readStates(ctx context.Context, rd dual.Redis, keys dual.RedisKeys, ks [][]byte, newVersion bool) ([]redisState, int64, error) {
	clock := ""
	if newVersion {
		clock = keys.Clock
	}
	v, err := readScriptRun.run(ctx, rd, ks, []byte(clock), []byte(keys.Version))
	if err != nil {
		return nil, 0, err
	}
	if v.Type != '*' || len(v.Elems) != len(ks)+1 {
		return nil, 0, fmt.Errorf("redis: read states: unexpected reply of %d elements for %d keys", len(v.Elems), len(ks))
	}
	out := make([]redisState, len(ks))
	for i := range ks {
		e := v.Elems[i+1]
		if len(e.Elems) < 4 {
			return nil, 0, errors.New("redis: read states: malformed reply")
		}
		st := redisState{typ: string(e.Elems[0].Str), applied: e.Elems[3].Int}
		val, ok := dual.DecodeState(resp.Value{Type: '*', Elems: e.Elems[:3]})
		st.val, st.bad = val, !ok
		out[i] = st
	}
	return out, v.Elems[0].Int, nil
}

var (
	readScriptRun     = newScript(readScript)
	deleteIfScriptRun = newScript(deleteIfScript)
)

// runID returns the Redis server's run_id (INFO server): it changes when the process
// restarts, which invalidates SCAN cursors.
func runID(ctx context.Context, rd dual.Redis) (string, error) {
	v, err := rd.Do(ctx, resp.AppendCommandString(nil, "INFO", "server"))
	if err == nil && v.IsError() {
		err = v.Err()
	}
	if err != nil {
		return "", fmt.Errorf("redis: info server: %w", err)
	}
	for _, line := range strings.Split(string(v.Str), "\n") {
		if id, ok := strings.CutPrefix(strings.TrimSpace(line), "run_id:"); ok {
			return id, nil
		}
	}
	return "", errors.New("redis: info server: no run_id")
}

// dbSize returns DBSIZE (an estimate of the work: it counts every key of db 0).
func dbSize(ctx context.Context, rd dual.Redis) (int64, error) {
	v, err := rd.Do(ctx, resp.AppendCommandString(nil, "DBSIZE"))
	if err == nil && v.IsError() {
		err = v.Err()
	}
	if err != nil {
		return 0, fmt.Errorf("redis: dbsize: %w", err)
	}
	return v.Int, nil
}

// scanPage runs one SCAN step.
func scanPage(ctx context.Context, rd dual.Redis, cursor, glob string, count int) (next string, keys [][]byte, err error) {
	args := []string{"SCAN", cursor}
	if glob != "*" {
		args = append(args, "MATCH", glob)
	}
	args = append(args, "COUNT", strconv.Itoa(count))
	v, err := rd.Do(ctx, resp.AppendCommandString(nil, args...))
	if err == nil && v.IsError() {
		err = v.Err()
	}
	if err != nil {
		return "", nil, fmt.Errorf("redis: scan %s: %w", cursor, err)
	}
	if v.Type != '*' || len(v.Elems) != 2 {
		return "", nil, fmt.Errorf("redis: scan %s: unexpected reply", cursor)
	}
	keys = make([][]byte, 0, len(v.Elems[1].Elems))
	for _, e := range v.Elems[1].Elems {
		keys = append(keys, e.Str)
	}
	return string(v.Elems[0].Str), keys, nil
}
