package translate

import (
	"fmt"
	"math"
	"strconv"

	"hotswap/proxy/command"
)

// stringHandlers are the string commands (GET, SET, INCR, ...). See strings_test.go.
//
// They follow Redis 7.0.15's src/t_string.c step by step, so the order in which errors
// are found (syntax, then the expire time, then the key's type, ...) is Redis' own.
// Expiry: a command that replaces the value (SET, SETEX, GETSET, MSET) drops the TTL
// unless SET ... KEEPTTL; a command that edits it (APPEND, SETRANGE, INCR*, ...) keeps it.
var stringHandlers = []handlerEntry{
	{"get", cmdGet},
	{"set", cmdSet},
	{"setnx", cmdSetNX},
	{"setex", cmdSetEX},
	{"psetex", cmdPSetEX},
	{"getset", cmdGetSet},
	{"getdel", cmdGetDel},
	{"getex", cmdGetEx},
	{"mget", cmdMGet},
	{"mset", cmdMSet},
	{"msetnx", cmdMSetNX},
	{"append", cmdAppend},
	{"strlen", cmdStrlen},
	{"getrange", cmdGetRange},
	{"substr", cmdGetRange},
	{"setrange", cmdSetRange},
	{"incr", cmdIncr},
	{"decr", cmdDecr},
	{"incrby", cmdIncrBy},
	{"decrby", cmdDecrBy},
	{"incrbyfloat", cmdIncrByFloat},
}

// protoMaxBulkLen is Redis' default proto-max-bulk-len (512 MB): APPEND and SETRANGE
// refuse to build a longer string. hotswap does not read the server's setting; DynamoDB
// refuses items over 400 KB long before that (the store reports it).
const protoMaxBulkLen = 512 << 20

// Flags of SET and GETEX (parseExtendedStringArgumentsOrReply in t_string.c).
const (
	setNX = 1 << iota
	setXX
	setEX
	setPX
	setKeepTTL
	setGet
	setEXAT
	setPXAT
	setPersist
)

// cstr returns b up to its first NUL byte: Redis compares options as C strings, so
// "nx\x00junk" is NX.
func cstr(b []byte) []byte {
	for i, c := range b {
		if c == 0 {
			return b[:i]
		}
	}
	return b
}

// optIs reports whether the option arg equals name (lower case) as Redis' strcasecmp
// sees it.
func optIs(arg []byte, name string) bool {
	a := cstr(arg)
	if len(a) != len(name) {
		return false
	}
	for i := range a {
		c := a[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != name[i] {
			return false
		}
	}
	return true
}

// stringOf returns the string value of key; wrong is true (and WRONGTYPE written) when
// the key holds another kind.
func stringOf(ks *Keyspace, r *Reply, key []byte) (v *Value, wrong bool) {
	v = ks.Get(key)
	if v != nil && v.Kind != KindString {
		r.Error(errWrongType)
		return nil, true
	}
	return v, false
}

// replyGet is getGenericCommand: the value, nil, or WRONGTYPE (false).
func replyGet(ks *Keyspace, r *Reply, key []byte) bool {
	v, wrong := stringOf(ks, r, key)
	if wrong {
		return false
	}
	if v == nil {
		r.Null()
	} else {
		r.Bulk(v.Str)
	}
	return true
}

func cmdGet(ks *Keyspace, r *Reply, args [][]byte) { replyGet(ks, r, args[1]) }

// parseStringOptions is parseExtendedStringArgumentsOrReply: the options of SET (forGet
// false, from args[3]) or GETEX (forGet true, from args[2]), with Redis' exact rules for
// which combinations are a syntax error (EX twice is allowed, the last one wins).
func parseStringOptions(r *Reply, args [][]byte, forGet bool) (flags int, expire []byte, ok bool) {
	j := 3
	if forGet {
		j = 2
	}
	forSet := !forGet
	for ; j < len(args); j++ {
		opt := args[j]
		hasNext := j < len(args)-1
		switch {
		case optIs(opt, "nx") && flags&setXX == 0 && forSet:
			flags |= setNX
		case optIs(opt, "xx") && flags&setNX == 0 && forSet:
			flags |= setXX
		case optIs(opt, "get") && forSet:
			flags |= setGet
		case optIs(opt, "keepttl") && flags&(setPersist|setEX|setEXAT|setPX|setPXAT) == 0 && forSet:
			flags |= setKeepTTL
		case optIs(opt, "persist") && forGet && flags&(setEX|setEXAT|setPX|setPXAT|setKeepTTL) == 0:
			flags |= setPersist
		case optIs(opt, "ex") && flags&(setKeepTTL|setPersist|setEXAT|setPX|setPXAT) == 0 && hasNext:
			flags |= setEX
			expire = args[j+1]
			j++
		case optIs(opt, "px") && flags&(setKeepTTL|setPersist|setEX|setEXAT|setPXAT) == 0 && hasNext:
			flags |= setPX
			expire = args[j+1]
			j++
		case optIs(opt, "exat") && flags&(setKeepTTL|setPersist|setEX|setPX|setPXAT) == 0 && hasNext:
			flags |= setEXAT
			expire = args[j+1]
			j++
		case optIs(opt, "pxat") && flags&(setKeepTTL|setPersist|setEX|setEXAT|setPX) == 0 && hasNext:
			flags |= setPXAT
			expire = args[j+1]
			j++
		default:
			r.Error(errSyntax)
			return 0, nil, false
		}
	}
	return flags, expire, true
}

// expireMillis is getExpireMillisecondsOrReply: the absolute expiry in Unix ms of an
// EX/PX/EXAT/PXAT argument, or an error reply naming cmd. Like Redis, it refuses values
// <= 0, seconds that overflow when multiplied by 1000, and a relative time that overflows
// when added to now (int64 wraps as Redis' long long does in practice).
func expireMillis(ks *Keyspace, r *Reply, cmd string, arg []byte, flags int) (int64, bool) {
	ms, ok := command.ParseInt(arg)
	if !ok {
		r.Error(errNotInteger)
		return 0, false
	}
	seconds := flags&(setEX|setEXAT) != 0
	if ms <= 0 || (seconds && ms > math.MaxInt64/1000) {
		r.Error(invalidExpire(cmd))
		return 0, false
	}
	if seconds {
		ms *= 1000
	}
	if flags&(setEX|setPX) != 0 {
		ms += ks.Now()
	}
	if ms <= 0 {
		r.Error(invalidExpire(cmd))
		return 0, false
	}
	return ms, true
}

func invalidExpire(cmd string) string {
	return "ERR invalid expire time in '" + cmd + "' command"
}

// setGeneric is setGenericCommand. okReply/abortReply replace +OK and nil (SETNX).
// An absolute expiry already in the past deletes the key where Redis stores an expired
// key; no command can tell the two apart.
func setGeneric(ks *Keyspace, r *Reply, cmd string, flags int, key, val, expire []byte, okReply, abortReply func()) {
	var when int64
	if expire != nil {
		var ok bool
		if when, ok = expireMillis(ks, r, cmd, expire, flags); !ok {
			return
		}
	}
	if flags&setGet != 0 && !replyGet(ks, r, key) {
		return
	}
	old := ks.Get(key)
	found := old != nil
	if (flags&setNX != 0 && found) || (flags&setXX != 0 && !found) {
		if flags&setGet == 0 {
			abortReply()
		}
		return
	}
	nv := NewString(append([]byte(nil), val...))
	if flags&setKeepTTL != 0 && found {
		nv.ExpireAt = old.ExpireAt
	}
	if expire != nil {
		nv.ExpireAt = when
	}
	if nv.ExpireAt != 0 && nv.ExpireAt <= ks.Now() {
		ks.Put(key, nil)
	} else {
		ks.Put(key, nv)
	}
	if flags&setGet == 0 {
		okReply()
	}
}

// cmdSet is SET key value [NX|XX] [GET] [EX s|PX ms|EXAT s|PXAT ms|KEEPTTL].
func cmdSet(ks *Keyspace, r *Reply, args [][]byte) {
	flags, expire, ok := parseStringOptions(r, args, false)
	if !ok {
		return
	}
	setGeneric(ks, r, "set", flags, args[1], args[2], expire, r.OK, r.Null)
}

func cmdSetNX(ks *Keyspace, r *Reply, args [][]byte) {
	setGeneric(ks, r, "setnx", setNX, args[1], args[2], nil,
		func() { r.Int(1) }, func() { r.Int(0) })
}

func cmdSetEX(ks *Keyspace, r *Reply, args [][]byte) {
	setGeneric(ks, r, "setex", setEX, args[1], args[3], args[2], r.OK, r.Null)
}

func cmdPSetEX(ks *Keyspace, r *Reply, args [][]byte) {
	setGeneric(ks, r, "psetex", setPX, args[1], args[3], args[2], r.OK, r.Null)
}

// cmdGetSet replies the old value and sets the new one without TTL.
func cmdGetSet(ks *Keyspace, r *Reply, args [][]byte) {
	if !replyGet(ks, r, args[1]) {
		return
	}
	ks.Put(args[1], NewString(append([]byte(nil), args[2]...)))
}

func cmdGetDel(ks *Keyspace, r *Reply, args [][]byte) {
	if !replyGet(ks, r, args[1]) {
		return
	}
	ks.Del(args[1])
}

// cmdGetEx is GETEX key [EX s|PX ms|EXAT s|PXAT ms|PERSIST]. As in Redis, a missing key
// replies nil before the expire time is checked, and an EXAT/PXAT time that is already
// past deletes the key.
func cmdGetEx(ks *Keyspace, r *Reply, args [][]byte) {
	flags, expire, ok := parseStringOptions(r, args, true)
	if !ok {
		return
	}
	key := args[1]
	v, wrong := stringOf(ks, r, key)
	if wrong {
		return
	}
	if v == nil {
		r.Null()
		return
	}
	var when int64
	if expire != nil {
		if when, ok = expireMillis(ks, r, "getex", expire, flags); !ok {
			return
		}
	}
	r.Bulk(v.Str)
	switch {
	case flags&(setEXAT|setPXAT) != 0 && when <= ks.Now():
		ks.Del(key)
	case expire != nil:
		v.ExpireAt = when
		ks.Put(key, v)
	case flags&setPersist != 0 && v.ExpireAt != 0:
		v.ExpireAt = 0
		ks.Put(key, v)
	}
}

// cmdMGet replies nil for a missing key and for a key of another kind.
func cmdMGet(ks *Keyspace, r *Reply, args [][]byte) {
	r.Array(len(args) - 1)
	for _, k := range args[1:] {
		v := ks.Get(k)
		if v == nil || v.Kind != KindString {
			r.Null()
		} else {
			r.Bulk(v.Str)
		}
	}
}

func cmdMSet(ks *Keyspace, r *Reply, args [][]byte)   { msetGeneric(ks, r, args, false) }
func cmdMSetNX(ks *Keyspace, r *Reply, args [][]byte) { msetGeneric(ks, r, args, true) }

// msetGeneric is msetGenericCommand: pairs set in order (a repeated key ends with its
// last value), every TTL dropped; MSETNX sets nothing if any key exists.
func msetGeneric(ks *Keyspace, r *Reply, args [][]byte, nx bool) {
	if len(args)%2 == 0 {
		name := "mset"
		if nx {
			name = "msetnx"
		}
		r.Error("ERR wrong number of arguments for '" + name + "' command")
		return
	}
	if nx {
		for j := 1; j < len(args); j += 2 {
			if ks.Get(args[j]) != nil {
				r.Int(0)
				return
			}
		}
	}
	for j := 1; j < len(args); j += 2 {
		ks.Put(args[j], NewString(append([]byte(nil), args[j+1]...)))
	}
	if nx {
		r.Int(1)
	} else {
		r.OK()
	}
}

// checkStringLength is Redis' checkStringLength: size+add must stay within
// proto-max-bulk-len. It also applies the Keyspace's value limit (DynamoDB's item
// size, set by the engine), so APPEND and SETRANGE never build a string hotswap could
// not store: the command gets the error the write would have got, before the memory
// is spent.
func checkStringLength(ks *Keyspace, r *Reply, size, add int64) bool {
	total := size + add
	if total > protoMaxBulkLen || total < size || total < add {
		r.Error(errStrTooLarge)
		return false
	}
	if ks.maxValue > 0 && total > ks.maxValue {
		r.Error(fmt.Sprintf("ERR hotswap: the value is too large for DynamoDB: the string would be %d bytes, the limit is %d", total, ks.maxValue))
		return false
	}
	return true
}

// cmdAppend keeps the TTL. Differs from Redis only in that the length limit is the
// default proto-max-bulk-len, not the server's setting (see protoMaxBulkLen).
func cmdAppend(ks *Keyspace, r *Reply, args [][]byte) {
	key, add := args[1], args[2]
	v, wrong := stringOf(ks, r, key)
	if wrong {
		return
	}
	if v == nil {
		ks.Put(key, NewString(append([]byte(nil), add...)))
		r.Int(int64(len(add)))
		return
	}
	if !checkStringLength(ks, r, int64(len(v.Str)), int64(len(add))) {
		return
	}
	v.Str = append(v.Str, add...)
	ks.Put(key, v)
	r.Int(int64(len(v.Str)))
}

func cmdStrlen(ks *Keyspace, r *Reply, args [][]byte) {
	v, wrong := stringOf(ks, r, args[1])
	if wrong {
		return
	}
	if v == nil {
		r.Int(0)
		return
	}
	r.Int(int64(len(v.Str)))
}

// emptyBulk is Redis' shared.emptybulk, the same in RESP2 and RESP3.
func emptyBulk(r *Reply) { r.Raw([]byte("$0\r\n\r\n")) }

// cmdGetRange is GETRANGE and SUBSTR: the indexes are parsed before the key is looked up.
func cmdGetRange(ks *Keyspace, r *Reply, args [][]byte) {
	start, ok := command.ParseInt(args[2])
	if !ok {
		r.Error(errNotInteger)
		return
	}
	end, ok := command.ParseInt(args[3])
	if !ok {
		r.Error(errNotInteger)
		return
	}
	v, wrong := stringOf(ks, r, args[1])
	if wrong {
		return
	}
	if v == nil {
		emptyBulk(r)
		return
	}
	n := int64(len(v.Str))
	if start < 0 && end < 0 && start > end {
		emptyBulk(r)
		return
	}
	if start < 0 {
		start += n
	}
	if end < 0 {
		end += n
	}
	if start < 0 {
		start = 0
	}
	if end < 0 {
		end = 0
	}
	if end >= n {
		end = n - 1
	}
	if start > end || n == 0 {
		emptyBulk(r)
		return
	}
	r.Bulk(v.Str[start : end+1])
}

// cmdSetRange pads with NUL bytes up to offset and keeps the TTL. Like Redis it will
// build a string of up to 512 MB in memory (the default proto-max-bulk-len, not the
// server's setting); the store then refuses what DynamoDB cannot hold (400 KB items).
func cmdSetRange(ks *Keyspace, r *Reply, args [][]byte) {
	key, val := args[1], args[3]
	offset, ok := command.ParseInt(args[2])
	if !ok {
		r.Error(errNotInteger)
		return
	}
	if offset < 0 {
		r.Error("ERR offset is out of range")
		return
	}
	v, wrong := stringOf(ks, r, key)
	if wrong {
		return
	}
	if v == nil {
		if len(val) == 0 {
			r.Int(0)
			return
		}
		if !checkStringLength(ks, r, offset, int64(len(val))) {
			return
		}
		v = NewString(nil)
	} else {
		if len(val) == 0 {
			r.Int(int64(len(v.Str)))
			return
		}
		if !checkStringLength(ks, r, offset, int64(len(val))) {
			return
		}
	}
	need := int(offset) + len(val)
	if need > len(v.Str) {
		v.Str = append(v.Str, make([]byte, need-len(v.Str))...)
	}
	copy(v.Str[offset:], val)
	ks.Put(key, v)
	r.Int(int64(len(v.Str)))
}

func cmdIncr(ks *Keyspace, r *Reply, args [][]byte) { incrDecr(ks, r, args[1], 1) }
func cmdDecr(ks *Keyspace, r *Reply, args [][]byte) { incrDecr(ks, r, args[1], -1) }

// cmdIncrBy parses the increment before it looks at the key, as Redis does.
func cmdIncrBy(ks *Keyspace, r *Reply, args [][]byte) {
	n, ok := command.ParseInt(args[2])
	if !ok {
		r.Error(errNotInteger)
		return
	}
	incrDecr(ks, r, args[1], n)
}

func cmdDecrBy(ks *Keyspace, r *Reply, args [][]byte) {
	n, ok := command.ParseInt(args[2])
	if !ok {
		r.Error(errNotInteger)
		return
	}
	if n == math.MinInt64 {
		r.Error("ERR decrement would overflow")
		return
	}
	incrDecr(ks, r, args[1], -n)
}

// incrDecr is incrDecrCommand: the value must be a string2ll integer; the TTL stays.
func incrDecr(ks *Keyspace, r *Reply, key []byte, incr int64) {
	v, wrong := stringOf(ks, r, key)
	if wrong {
		return
	}
	var cur int64
	if v != nil {
		var ok bool
		if cur, ok = command.ParseInt(v.Str); !ok {
			r.Error(errNotInteger)
			return
		}
	}
	if (incr < 0 && cur < 0 && incr < math.MinInt64-cur) ||
		(incr > 0 && cur > 0 && incr > math.MaxInt64-cur) {
		r.Error(errOverflow)
		return
	}
	cur += incr
	if v == nil {
		v = NewString(nil)
	}
	v.Str = strconv.AppendInt(v.Str[:0], cur, 10)
	ks.Put(key, v)
	r.Int(cur)
}

// cmdIncrByFloat is incrbyfloatCommand in x87 long double arithmetic (numbers.go); the
// stored value is the reply's text and the TTL stays. The results are those of a Redis
// built for x86-64; a Redis on arm64, whose long double is IEEE quad precision, can
// differ in the last digits of the 17 it prints.
func cmdIncrByFloat(ks *Keyspace, r *Reply, args [][]byte) {
	key := args[1]
	v, wrong := stringOf(ks, r, key)
	if wrong {
		return
	}
	cur := newLD()
	if v != nil {
		var ok bool
		if cur, ok = parseLongDouble(v.Str); !ok {
			r.Error(errNotFloat)
			return
		}
	}
	incr, ok := parseLongDouble(args[2])
	if !ok {
		r.Error(errNotFloat)
		return
	}
	sum, ok := addLongDouble(cur, incr)
	if !ok {
		r.Error(errIncrNaNInf)
		return
	}
	if v == nil {
		v = NewString(nil)
	}
	v.Str = formatLongDouble(sum)
	ks.Put(key, v)
	r.Bulk(v.Str)
}
