package proxy

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"hotswap/internal/redcon"

	"hotswap/proxy/command"
	"hotswap/resp"
	"hotswap/translate"
)

// The commands over the whole keyspace when key families are served from DynamoDB
// (docs/MAPPING.md "Whole-keyspace commands"): db 0 is then split between Redis (keys
// of no family, or of families still served from Redis) and DynamoDB, and SCAN, KEYS,
// DBSIZE and RANDOMKEY combine the two; FLUSHDB and FLUSHALL empty both. A copy in
// Redis of a key that belongs to DynamoDB is stale (left by a migration or written
// around hotswap) and is never listed.

// redisRandomTries bounds the RANDOMKEY calls to Redis that may each return a stale copy
// of a DynamoDB key before Redis is taken to hold no key of its own.
const redisRandomTries = 5

// keyspaceCmd runs the commands over the whole keyspace (SCAN, KEYS, DBSIZE,
// RANDOMKEY, FLUSHDB, FLUSHALL) across Redis and DynamoDB when an engine is
// configured. It returns false when the command goes to Redis as it is: no engine, a
// db other than 0 (FLUSHALL excepted: it empties db 0 from any db), no family served
// from DynamoDB, or arguments Redis refuses without touching anything (it words the
// error).
func (ss *session) keyspaceCmd(c redcon.Conn, cmd redcon.Command, info *command.Info) bool {
	e := ss.srv.cfg.Engine
	if e == nil || info == nil {
		return false
	}
	switch info.Name {
	case "scan", "keys", "dbsize", "randomkey", "flushdb":
		if ss.key.DB != 0 {
			return false
		}
	case "flushall":
	default:
		return false
	}
	if !info.ArityOK(len(cmd.Args)) || !ss.srv.anyServed(e.Mapping()) {
		return false
	}
	if (info.Name == "flushall" || info.Name == "flushdb") && !flushArgsOK(cmd.Args) {
		return false // Redis replies "ERR syntax error" and flushes nothing
	}
	ss.flush(c) // replies stay in order
	ctx := ss.srv.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	var reply []byte
	switch info.Name {
	case "scan":
		reply = ss.keyspaceScan(ctx, e, cmd.Args)
	case "keys":
		reply = ss.keyspaceKeys(ctx, e, cmd.Args[1])
	case "dbsize":
		reply = ss.keyspaceDBSize(ctx, e)
	case "randomkey":
		reply = ss.keyspaceRandomKey(ctx, e)
	default:
		reply = ss.keyspaceFlush(ctx, e, cmd.Args)
	}
	ss.writeLocal(c, reply)
	return true
}

// anyServed: some entity of some family may be served from DynamoDB now.
func (s *Server) anyServed(m *translate.Mapping) bool {
	for _, f := range m.Families {
		if s.mayServeDynamo(f) {
			return true
		}
	}
	return false
}

// flushArgsOK reports whether FLUSHALL or FLUSHDB has the arguments Redis 7.0 accepts:
// none, or one ASYNC or SYNC (compared as strcasecmp does, up to a NUL byte).
func flushArgsOK(args [][]byte) bool {
	switch len(args) {
	case 1:
		return true
	case 2:
		a := args[1]
		if i := strings.IndexByte(string(a), 0); i >= 0 {
			a = a[:i]
		}
		return strings.EqualFold(string(a), "sync") || strings.EqualFold(string(a), "async")
	}
	return false
}

// dynamoError is the reply to a failed DynamoDB call of these commands.
func (ss *session) dynamoError(cmd string, err error) []byte {
	ss.srv.log.Warn("dynamodb keyspace command failed", "command", cmd, "err", err)
	return resp.AppendError(nil, "ERR hotswap: "+cmd+": "+oneLine(err.Error()))
}

// redisKeys keeps the keys of a Redis reply that are the application's and Redis':
// not a copy of a key served from DynamoDB, not hotswap's bookkeeping.
func (ss *session) redisKeys(m *translate.Mapping, elems []resp.Value, dst [][]byte) [][]byte {
	own := ss.srv.ownKeys()
	for _, k := range elems {
		if !translate.BelongsToDynamo(m, ss.srv.servedFromDynamo, k.Str) && !slices.Contains(own, string(k.Str)) {
			dst = append(dst, k.Str)
		}
	}
	return dst
}

// ownKeys are hotswap's bookkeeping keys in Redis (the sync journal, clock and
// versions), which the whole-keyspace commands do not show.
func (s *Server) ownKeys() []string {
	if s.cfg.Syncer == nil {
		return nil
	}
	return s.cfg.Syncer.OwnKeys()
}

// keyspaceScan is SCAN cursor [MATCH p] [COUNT n] [TYPE t]. A scan walks Redis first,
// with Redis' own SCAN and the same options, then the DynamoDB table; each page's next
// position is kept in the engine's cursor table behind the cursor returned. Redis' guarantee holds: a
// key present for the whole scan is in one store throughout and that store's walk
// returns it. A cursor hotswap does not know (expired after 10 minutes unused, pushed
// out by 10,000 newer ones, or made by another hotswap process) gets an empty page and
// cursor 0, which ends the client's loop; it is logged, since the scan was cut short.
func (ss *session) keyspaceScan(ctx context.Context, e *translate.Engine, args [][]byte) []byte {
	cursor, f, msg := translate.ParseScan(args)
	if msg != "" {
		return resp.AppendError(nil, msg)
	}
	// The cursor table belongs to the engine: one per server.
	keyScans := e.ScanCursors()
	var owner any
	st := translate.KeyScan{Owner: owner}
	if cursor != 0 {
		var ok bool
		if st, ok = keyScans.Get(cursor, owner); !ok {
			ss.srv.log.Warn("SCAN with a cursor hotswap does not know (unused for 10 minutes, pushed out by newer cursors, or from another process): replying with an empty page and cursor 0",
				"cursor", cursor, "client", ss.id)
			return appendScanPage(nil, 0, nil)
		}
	}
	var keys [][]byte
	if !st.InDynamo {
		req := append([][]byte{args[0], strconv.AppendUint(nil, st.Redis, 10)}, args[2:]...)
		v, err := ss.roundTrip(resp.AppendCommand(nil, req...))
		if err != nil {
			return appendError(nil, err)
		}
		if v.IsError() {
			return resp.AppendValue(nil, v)
		}
		if len(v.Elems) != 2 {
			return resp.AppendError(nil, "ERR hotswap: unexpected reply from Redis to SCAN")
		}
		next, err := strconv.ParseUint(string(v.Elems[0].Str), 10, 64)
		if err != nil {
			return resp.AppendError(nil, "ERR hotswap: unexpected cursor from Redis to SCAN")
		}
		keys = ss.redisKeys(e.Mapping(), v.Elems[1].Elems, keys)
		if next != 0 {
			return appendScanPage(nil, keyScans.Put(translate.KeyScan{Owner: owner, Redis: next}), keys)
		}
		// Redis is done: the same call goes on with the table's first page.
		st = translate.KeyScan{Owner: owner, InDynamo: true}
	}
	dk, pos, err := e.ScanKeys(ctx, ss.srv.servedFromDynamo, &f, st.Pos)
	if err != nil {
		return ss.dynamoError("SCAN", err)
	}
	keys = append(keys, dk...)
	var id uint64
	if pos != nil {
		id = keyScans.Put(translate.KeyScan{Owner: owner, InDynamo: true, Pos: pos})
	}
	return appendScanPage(nil, id, keys)
}

// appendScanPage writes SCAN's reply: the cursor as a bulk string and the keys as an
// array (an array in RESP3 too, as Redis sends it).
func appendScanPage(dst []byte, cursor uint64, keys [][]byte) []byte {
	dst = resp.AppendArrayHeader(dst, 2)
	dst = resp.AppendBulk(dst, strconv.AppendUint(nil, cursor, 10))
	dst = resp.AppendArrayHeader(dst, len(keys))
	for _, k := range keys {
		dst = resp.AppendBulk(dst, k)
	}
	return dst
}

// keyspaceKeys is KEYS pattern: Redis' keys (its stale copies of DynamoDB keys left
// out), then the table's.
func (ss *session) keyspaceKeys(ctx context.Context, e *translate.Engine, pattern []byte) []byte {
	v, err := ss.roundTrip(resp.AppendCommand(nil, []byte("KEYS"), pattern))
	if err != nil {
		return appendError(nil, err)
	}
	if v.IsError() {
		return resp.AppendValue(nil, v)
	}
	keys := ss.redisKeys(e.Mapping(), v.Elems, nil)
	f := translate.KeysFilter(pattern)
	dk, err := e.Keys(ctx, ss.srv.servedFromDynamo, &f)
	if err != nil {
		return ss.dynamoError("KEYS", err)
	}
	keys = append(keys, dk...)
	out := resp.AppendArrayHeader(nil, len(keys))
	for _, k := range keys {
		out = resp.AppendBulk(out, k)
	}
	return out
}

// keyspaceDBSize is DBSIZE: Redis' DBSIZE plus the live keys in the table. Redis'
// count is taken as it is: it should hold no key of a family served from DynamoDB, and
// a stale copy there is counted (subtracting it would need a walk of Redis). It reads
// the whole table.
func (ss *session) keyspaceDBSize(ctx context.Context, e *translate.Engine) []byte {
	v, err := ss.roundTrip(resp.AppendCommandString(nil, "DBSIZE"))
	if err != nil {
		return appendError(nil, err)
	}
	if v.IsError() || v.Type != ':' {
		return resp.AppendValue(nil, v)
	}
	n, err := e.CountKeys(ctx, ss.srv.servedFromDynamo)
	if err != nil {
		return ss.dynamoError("DBSIZE", err)
	}
	copies, err := ss.redisCopies(ctx, e.Mapping())
	if err != nil {
		return appendError(nil, err)
	}
	if own := ss.srv.ownKeys(); len(own) > 0 {
		ov, err := ss.roundTrip(resp.AppendCommandString(nil, append([]string{"EXISTS"}, own...)...))
		if err != nil {
			return appendError(nil, err)
		}
		copies += ov.Int
	}
	return resp.AppendInt(nil, v.Int-copies+n)
}

// redisCopies counts the keys in Redis that belong to DynamoDB now: the copies the
// live and rampdown stages keep (and stale ones), which DBSIZE must not count twice.
// It walks Redis with SCAN MATCH over each family that may be served from DynamoDB;
// a family no entity of which can be there is not walked.
func (ss *session) redisCopies(ctx context.Context, m *translate.Mapping) (int64, error) {
	var n int64
	for _, f := range m.Families {
		if !ss.srv.mayServeDynamo(f) {
			continue
		}
		cursor := "0"
		for {
			if err := ctx.Err(); err != nil {
				return 0, fmt.Errorf("DBSIZE: %w", err)
			}
			v, err := ss.roundTrip(resp.AppendCommandString(nil, "SCAN", cursor, "MATCH", f.ScanGlob(), "COUNT", "1000"))
			if err != nil {
				return 0, err
			}
			if v.IsError() || len(v.Elems) != 2 {
				return 0, fmt.Errorf("DBSIZE: scan Redis: %v", v.Err())
			}
			for _, k := range v.Elems[1].Elems {
				if r, ok, err := m.Route(k.Str); err == nil && ok && r.Family == f && ss.srv.servedFromDynamo(&r) {
					n++
				}
			}
			if cursor = string(v.Elems[0].Str); cursor == "0" {
				break
			}
		}
	}
	return n, nil
}

// keyspaceRandomKey is RANDOMKEY: a coin flip picks the store asked first, and the
// other is asked when the first has no key. The pick is not uniform over both stores
// (half the picks come from each while both have keys). A key Redis returns that
// belongs to DynamoDB (a stale copy) is asked again, up to redisRandomTries times.
func (ss *session) keyspaceRandomKey(ctx context.Context, e *translate.Engine) []byte {
	fromRedis := func() (key []byte, found bool, errReply []byte) {
		for range redisRandomTries {
			v, err := ss.roundTrip(resp.AppendCommandString(nil, "RANDOMKEY"))
			if err != nil {
				return nil, false, appendError(nil, err)
			}
			if v.IsError() {
				return nil, false, resp.AppendValue(nil, v)
			}
			if v.Null {
				return nil, false, nil
			}
			if !translate.BelongsToDynamo(e.Mapping(), ss.srv.servedFromDynamo, v.Str) && !slices.Contains(ss.srv.ownKeys(), string(v.Str)) {
				return append([]byte(nil), v.Str...), true, nil
			}
		}
		return nil, false, nil
	}
	fromDynamo := func() (key []byte, found bool, errReply []byte) {
		k, ok, err := e.RandomKey(ctx, ss.srv.servedFromDynamo)
		if err != nil {
			return nil, false, ss.dynamoError("RANDOMKEY", err)
		}
		return k, ok, nil
	}
	first, second := fromDynamo, fromRedis
	if rand.IntN(2) == 0 {
		first, second = fromRedis, fromDynamo
	}
	for _, from := range []func() ([]byte, bool, []byte){first, second} {
		k, ok, errReply := from()
		if errReply != nil {
			return errReply
		}
		if ok {
			return resp.AppendBulk(nil, k)
		}
	}
	if ss.proto() == 3 {
		return []byte("_\r\n")
	}
	return resp.AppendNullBulk(nil)
}

// keyspaceFlush is FLUSHDB and FLUSHALL [ASYNC|SYNC]. They go to Redis, then, when a
// catch-all family is served from DynamoDB, every item of the served families that
// hotswap can name as a key is deleted from the table (the reply waits for it, ASYNC
// or not). Without a served catch-all the command is refused before anything is
// flushed: the table may hold items of those families that other services wrote and
// hotswap cannot tell apart, so "FLUSHALL empties everything" would not hold.
func (ss *session) keyspaceFlush(ctx context.Context, e *translate.Engine, args [][]byte) []byte {
	name := strings.ToUpper(string(args[0]))
	var served []string
	catchAll := false
	for _, f := range e.Mapping().Families {
		if !ss.srv.mayServeDynamo(f) {
			continue
		}
		if f.CatchAll {
			catchAll = true
		} else {
			served = append(served, f.Name)
		}
	}
	if !catchAll {
		return resp.AppendError(nil, fmt.Sprintf("ERR hotswap: %s would not delete the keys of DynamoDB families (%s); delete them with DEL or use a catch-all mapping", name, strings.Join(served, ", ")))
	}
	v, err := ss.roundTrip(resp.AppendCommand(nil, args...))
	if err != nil {
		return appendError(nil, err)
	}
	if v.IsError() {
		return resp.AppendValue(nil, v)
	}
	reply := resp.AppendValue(nil, v)
	// Every family item goes: Redis was emptied, so a copy of a Redis-authoritative
	// key left in DynamoDB would be a key the application deleted.
	n, err := e.FlushKeys(ctx, func(*translate.Route) bool { return true })
	if err != nil {
		ss.srv.log.Warn("flush of the DynamoDB keys failed", "command", name, "deleted", n, "err", err)
		return resp.AppendError(nil, fmt.Sprintf("ERR hotswap: %s emptied Redis but deleting the DynamoDB keys failed after %d: %s; run it again", name, n, oneLine(err.Error())))
	}
	ss.srv.log.Info("flushed the DynamoDB keys", "command", name, "deleted", n)
	return reply
}
