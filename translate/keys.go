package translate

import (
	"math"

	"hotswap/proxy/command"
)

// keyHandlers are the generic key commands (DEL, EXISTS, EXPIRE, TTL, RENAME, ...).
// See keys_test.go.
//
// They follow Redis 7.0.15's src/db.c and src/expire.c. An expired key is a missing key
// (Keyspace.Get), so a command that would find it in Redis' lazy expiry finds nothing, as
// a Redis client does.
var keyHandlers = []handlerEntry{
	{"del", cmdDel},
	{"unlink", cmdDel},
	{"exists", cmdExists},
	{"type", cmdType},
	{"touch", cmdTouch},
	{"expire", cmdExpire},
	{"pexpire", cmdPExpire},
	{"expireat", cmdExpireAt},
	{"pexpireat", cmdPExpireAt},
	{"ttl", cmdTTL},
	{"pttl", cmdPTTL},
	{"expiretime", cmdExpireTime},
	{"pexpiretime", cmdPExpireTime},
	{"persist", cmdPersist},
	{"rename", cmdRename},
	{"renamenx", cmdRenameNX},
	{"copy", cmdCopy},
}

// errCopyDB is COPY's reply when it names a database: a key of a DynamoDB family lives
// in db 0 only (DESIGN.md §2), and hotswap cannot write a key of another db from here.
const errCopyDB = "ERR hotswap: COPY with DB is not supported on keys of a DynamoDB family"

// cmdDel is DEL and UNLINK: the number of keys removed, a repeated key counted once.
func cmdDel(ks *Keyspace, r *Reply, args [][]byte) {
	var n int64
	for _, k := range args[1:] {
		if ks.Del(k) {
			n++
		}
	}
	r.Int(n)
}

// cmdExists counts a repeated key each time it is named.
func cmdExists(ks *Keyspace, r *Reply, args [][]byte) {
	var n int64
	for _, k := range args[1:] {
		if ks.Get(k) != nil {
			n++
		}
	}
	r.Int(n)
}

func cmdType(ks *Keyspace, r *Reply, args [][]byte) {
	v := ks.Get(args[1])
	if v == nil {
		r.Simple("none")
		return
	}
	r.Simple(v.Kind.String())
}

// cmdTouch counts the keys that exist, a repeated key each time. hotswap keeps no access
// time, so TOUCH changes nothing (OBJECT IDLETIME is not translated).
func cmdTouch(ks *Keyspace, r *Reply, args [][]byte) { cmdExists(ks, r, args) }

// Options of EXPIRE and friends.
const (
	expireNX = 1 << iota
	expireXX
	expireGT
	expireLT
)

func cmdExpire(ks *Keyspace, r *Reply, args [][]byte) {
	expireGeneric(ks, r, args, "expire", ks.Now(), true)
}

func cmdPExpire(ks *Keyspace, r *Reply, args [][]byte) {
	expireGeneric(ks, r, args, "pexpire", ks.Now(), false)
}

func cmdExpireAt(ks *Keyspace, r *Reply, args [][]byte) {
	expireGeneric(ks, r, args, "expireat", 0, true)
}

func cmdPExpireAt(ks *Keyspace, r *Reply, args [][]byte) {
	expireGeneric(ks, r, args, "pexpireat", 0, false)
}

// expireGeneric is expireGenericCommand: options first (parseExtendedExpireArgumentsOrReply),
// then the time, its overflow checks, then the key. A time at or before now deletes the
// key (and replies 1), as Redis does on a master.
func expireGeneric(ks *Keyspace, r *Reply, args [][]byte, cmd string, base int64, seconds bool) {
	var flags int
	for _, opt := range args[3:] {
		switch {
		case optIs(opt, "nx"):
			flags |= expireNX
		case optIs(opt, "xx"):
			flags |= expireXX
		case optIs(opt, "gt"):
			flags |= expireGT
		case optIs(opt, "lt"):
			flags |= expireLT
		default:
			r.Error("ERR Unsupported option " + sanitizeError(cstr(opt)))
			return
		}
	}
	if flags&expireNX != 0 && flags&(expireXX|expireGT|expireLT) != 0 {
		r.Error("ERR NX and XX, GT or LT options at the same time are not compatible")
		return
	}
	if flags&expireGT != 0 && flags&expireLT != 0 {
		r.Error("ERR GT and LT options at the same time are not compatible")
		return
	}
	when, ok := command.ParseInt(args[2])
	if !ok {
		r.Error(errNotInteger)
		return
	}
	if seconds {
		if when > math.MaxInt64/1000 || when < math.MinInt64/1000 {
			r.Error(invalidExpire(cmd))
			return
		}
		when *= 1000
	}
	if when > math.MaxInt64-base {
		r.Error(invalidExpire(cmd))
		return
	}
	when += base
	key := args[1]
	v := ks.Get(key)
	if v == nil {
		r.Int(0)
		return
	}
	cur := v.ExpireAt // 0: none, Redis' -1
	switch {
	case flags&expireNX != 0 && cur != 0,
		flags&expireXX != 0 && cur == 0,
		flags&expireGT != 0 && (cur == 0 || when <= cur),
		flags&expireLT != 0 && cur != 0 && when >= cur:
		r.Int(0)
		return
	}
	if when <= ks.Now() {
		ks.Del(key)
		r.Int(1)
		return
	}
	v.ExpireAt = when
	ks.Put(key, v)
	r.Int(1)
}

// sanitizeError is what addReplyErrorFormat does to a formatted message: CR and LF
// become spaces.
func sanitizeError(b []byte) string {
	s := []byte(string(b))
	for i, c := range s {
		if c == '\r' || c == '\n' {
			s[i] = ' '
		}
	}
	return string(s)
}

func cmdTTL(ks *Keyspace, r *Reply, args [][]byte)  { ttlGeneric(ks, r, args[1], false, false) }
func cmdPTTL(ks *Keyspace, r *Reply, args [][]byte) { ttlGeneric(ks, r, args[1], true, false) }
func cmdExpireTime(ks *Keyspace, r *Reply, args [][]byte) {
	ttlGeneric(ks, r, args[1], false, true)
}
func cmdPExpireTime(ks *Keyspace, r *Reply, args [][]byte) {
	ttlGeneric(ks, r, args[1], true, true)
}

// ttlGeneric is ttlGenericCommand: -2 no key, -1 no expiry, else the remaining time (or
// the absolute expiry), seconds rounded to nearest.
func ttlGeneric(ks *Keyspace, r *Reply, key []byte, ms, abs bool) {
	v := ks.Get(key)
	if v == nil {
		r.Int(-2)
		return
	}
	if v.ExpireAt == 0 {
		r.Int(-1)
		return
	}
	t := v.ExpireAt
	if !abs {
		t -= ks.Now()
	}
	if t < 0 {
		t = 0
	}
	if !ms {
		// Redis computes (t+500)/1000 in long long, and the compiler, which may assume
		// no overflow of a value known to be >= 0, divides unsigned: EXPIRETIME of an
		// expiry at LLONG_MAX ms is 9223372036854776, not a negative number.
		t = int64((uint64(t) + 500) / 1000)
	}
	r.Int(t)
}

func cmdPersist(ks *Keyspace, r *Reply, args [][]byte) {
	v := ks.Get(args[1])
	if v == nil || v.ExpireAt == 0 {
		r.Int(0)
		return
	}
	v.ExpireAt = 0
	ks.Put(args[1], v)
	r.Int(1)
}

func cmdRename(ks *Keyspace, r *Reply, args [][]byte)   { renameGeneric(ks, r, args, false) }
func cmdRenameNX(ks *Keyspace, r *Reply, args [][]byte) { renameGeneric(ks, r, args, true) }

// renameGeneric is renameGenericCommand: the value moves with its TTL. Renaming a key to
// itself succeeds when it exists.
func renameGeneric(ks *Keyspace, r *Reply, args [][]byte, nx bool) {
	src, dst := args[1], args[2]
	v := ks.Get(src)
	if v == nil {
		r.Error(errNoSuchKey)
		return
	}
	if string(src) == string(dst) {
		if nx {
			r.Int(0)
		} else {
			r.OK()
		}
		return
	}
	if nx && ks.Get(dst) != nil {
		r.Int(0)
		return
	}
	ks.Put(dst, v)
	ks.Put(src, nil)
	if nx {
		r.Int(1)
	} else {
		r.OK()
	}
}

// cmdCopy is COPY source destination [DB n] [REPLACE]: the value and its TTL.
//
// Differs from Redis: a well-formed DB option (any integer, the current db included)
// replies errCopyDB, after the arguments are checked as Redis checks them (a DB that is
// not an integer and a syntax error still get Redis' errors). Redis' "DB index is out of
// range" depends on the server's `databases` setting, which hotswap does not know.
func cmdCopy(ks *Keyspace, r *Reply, args [][]byte) {
	replace, withDB := false, false
	for j := 3; j < len(args); j++ {
		additional := len(args) - j - 1
		switch {
		case optIs(args[j], "replace"):
			replace = true
		case optIs(args[j], "db") && additional >= 1:
			// getIntFromObjectOrReply: a long, then the int range.
			n, ok := command.ParseInt(args[j+1])
			if !ok {
				r.Error(errNotInteger)
				return
			}
			if n < math.MinInt32 || n > math.MaxInt32 {
				r.Error("ERR value is out of range, value must between -2147483648 and 2147483647")
				return
			}
			withDB = true
			j++
		default:
			r.Error(errSyntax)
			return
		}
	}
	if withDB {
		r.Error(errCopyDB)
		return
	}
	src, dst := args[1], args[2]
	if string(src) == string(dst) {
		r.Error("ERR source and destination objects are the same")
		return
	}
	v := ks.Get(src)
	if v == nil {
		r.Int(0)
		return
	}
	if ks.Get(dst) != nil && !replace {
		r.Int(0)
		return
	}
	ks.Put(dst, v.Clone())
	r.Int(1)
}
