package translate

import (
	"maps"
	"math"
	"slices"
	"strconv"
)

// hashHandlers are the hash commands (HSET, HGETALL, ...). See hashes_test.go.
//
// They reproduce Redis 7.0's src/t_hash.c: the order in which arguments are parsed and
// the key's type is checked decides which error a bad command gets, so each handler
// follows Redis' order. Replies that list fields (HGETALL, HKEYS, HVALS, HSCAN, and
// HRANDFIELD when it returns the whole hash) come in byte order of the fields: Redis'
// order depends on its encoding and hash seed and is not defined, and a fixed order makes
// hotswap's replies reproducible.
var hashHandlers = []handlerEntry{
	{"hset", hsetCommand},
	{"hmset", hmsetCommand},
	{"hsetnx", hsetnxCommand},
	{"hget", hgetCommand},
	{"hmget", hmgetCommand},
	{"hgetall", hgetallCommand},
	{"hkeys", hkeysCommand},
	{"hvals", hvalsCommand},
	{"hdel", hdelCommand},
	{"hexists", hexistsCommand},
	{"hlen", hlenCommand},
	{"hstrlen", hstrlenCommand},
	{"hincrby", hincrbyCommand},
	{"hincrbyfloat", hincrbyfloatCommand},
	{"hrandfield", hrandfieldCommand},
	{"hscan", hscanCommand},
}

// lookupHash returns the hash at key (nil when the key does not exist) and reports
// false, having replied WRONGTYPE, when the key holds another type.
func lookupHash(ks *Keyspace, r *Reply, key []byte) (*Value, bool) {
	v := ks.Get(key)
	if v != nil && v.Kind != KindHash {
		r.Error(errWrongType)
		return nil, false
	}
	return v, true
}

// hashForWrite is Redis' hashTypeLookupWriteOrCreate: the hash at key, or a new empty
// one (without expiry: a write into a missing or expired key starts a fresh key).
func hashForWrite(ks *Keyspace, r *Reply, key []byte) (*Value, bool) {
	v, ok := lookupHash(ks, r, key)
	if !ok {
		return nil, false
	}
	if v == nil {
		v = NewHash()
	}
	return v, true
}

// sortedFields returns the fields of h in byte order.
func sortedFields(h map[string][]byte) []string { return slices.Sorted(maps.Keys(h)) }

func hsetCommand(ks *Keyspace, r *Reply, args [][]byte)  { hsetGeneric(ks, r, args, false) }
func hmsetCommand(ks *Keyspace, r *Reply, args [][]byte) { hsetGeneric(ks, r, args, true) }

// hsetGeneric is HSET and HMSET: the same command but for the reply (the number of new
// fields, or OK). The value keeps its expiry, as in Redis.
func hsetGeneric(ks *Keyspace, r *Reply, args [][]byte, hmset bool) {
	if len(args)%2 == 1 {
		// The arity in the command table admits any count >= 4; Redis checks the pairs
		// here, with the arity error.
		if hmset {
			r.Error("ERR wrong number of arguments for 'hmset' command")
		} else {
			r.Error("ERR wrong number of arguments for 'hset' command")
		}
		return
	}
	v, ok := hashForWrite(ks, r, args[1])
	if !ok {
		return
	}
	created := 0
	for i := 2; i < len(args); i += 2 {
		f := string(args[i])
		if _, exists := v.Hash[f]; !exists {
			created++
		}
		v.Hash[f] = slices.Clone(args[i+1])
	}
	ks.Put(args[1], v)
	if hmset {
		r.OK()
		return
	}
	r.Int(int64(created))
}

func hsetnxCommand(ks *Keyspace, r *Reply, args [][]byte) {
	v, ok := hashForWrite(ks, r, args[1])
	if !ok {
		return
	}
	f := string(args[2])
	if _, exists := v.Hash[f]; exists {
		r.Int(0)
		return
	}
	v.Hash[f] = slices.Clone(args[3])
	ks.Put(args[1], v)
	r.Int(1)
}

func hgetCommand(ks *Keyspace, r *Reply, args [][]byte) {
	v, ok := lookupHash(ks, r, args[1])
	if !ok {
		return
	}
	if v == nil {
		r.Null()
		return
	}
	if val, exists := v.Hash[string(args[2])]; exists {
		r.Bulk(val)
		return
	}
	r.Null()
}

func hmgetCommand(ks *Keyspace, r *Reply, args [][]byte) {
	v, ok := lookupHash(ks, r, args[1])
	if !ok {
		return
	}
	r.Array(len(args) - 2)
	for _, f := range args[2:] {
		if v != nil {
			if val, exists := v.Hash[string(f)]; exists {
				r.Bulk(val)
				continue
			}
		}
		r.Null()
	}
}

func hgetallCommand(ks *Keyspace, r *Reply, args [][]byte) {
	v, ok := lookupHash(ks, r, args[1])
	if !ok {
		return
	}
	if v == nil {
		r.Map(0)
		return
	}
	r.Map(len(v.Hash))
	for _, f := range sortedFields(v.Hash) {
		r.BulkString(f)
		r.Bulk(v.Hash[f])
	}
}

func hkeysCommand(ks *Keyspace, r *Reply, args [][]byte) {
	v, ok := lookupHash(ks, r, args[1])
	if !ok {
		return
	}
	if v == nil {
		r.Array(0)
		return
	}
	r.Array(len(v.Hash))
	for _, f := range sortedFields(v.Hash) {
		r.BulkString(f)
	}
}

func hvalsCommand(ks *Keyspace, r *Reply, args [][]byte) {
	v, ok := lookupHash(ks, r, args[1])
	if !ok {
		return
	}
	if v == nil {
		r.Array(0)
		return
	}
	r.Array(len(v.Hash))
	for _, f := range sortedFields(v.Hash) {
		r.Bulk(v.Hash[f])
	}
}

func hdelCommand(ks *Keyspace, r *Reply, args [][]byte) {
	v, ok := lookupHash(ks, r, args[1])
	if !ok {
		return
	}
	if v == nil {
		r.Int(0)
		return
	}
	deleted := 0
	for _, f := range args[2:] {
		if _, exists := v.Hash[string(f)]; exists {
			delete(v.Hash, string(f))
			deleted++
		}
	}
	if deleted > 0 {
		ks.Put(args[1], v) // an emptied hash deletes the key, as in Redis
	}
	r.Int(int64(deleted))
}

func hexistsCommand(ks *Keyspace, r *Reply, args [][]byte) {
	v, ok := lookupHash(ks, r, args[1])
	if !ok {
		return
	}
	if v != nil {
		if _, exists := v.Hash[string(args[2])]; exists {
			r.Int(1)
			return
		}
	}
	r.Int(0)
}

func hlenCommand(ks *Keyspace, r *Reply, args [][]byte) {
	v, ok := lookupHash(ks, r, args[1])
	if !ok {
		return
	}
	if v == nil {
		r.Int(0)
		return
	}
	r.Int(int64(len(v.Hash)))
}

func hstrlenCommand(ks *Keyspace, r *Reply, args [][]byte) {
	v, ok := lookupHash(ks, r, args[1])
	if !ok {
		return
	}
	if v == nil {
		r.Int(0)
		return
	}
	r.Int(int64(len(v.Hash[string(args[2])])))
}

// hincrbyCommand parses the increment before it looks at the key, as Redis does: a bad
// increment on a key of the wrong type is "not an integer", not WRONGTYPE.
func hincrbyCommand(ks *Keyspace, r *Reply, args [][]byte) {
	incr, ok := parseRedisLL(args[3])
	if !ok {
		r.Error(errNotInteger)
		return
	}
	v, ok := hashForWrite(ks, r, args[1])
	if !ok {
		return
	}
	f := string(args[2])
	var cur int64
	if old, exists := v.Hash[f]; exists {
		if cur, ok = parseRedisLL(old); !ok {
			r.Error(errHashNotInt)
			return
		}
	}
	if (incr < 0 && cur < 0 && incr < math.MinInt64-cur) || (incr > 0 && cur > 0 && incr > math.MaxInt64-cur) {
		r.Error(errOverflow)
		return
	}
	n := cur + incr
	v.Hash[f] = strconv.AppendInt(nil, n, 10)
	ks.Put(args[1], v)
	r.Int(n)
}

// hincrbyfloatCommand computes in long double as Redis does (parseLongDouble,
// addLongDouble and formatLongDouble emulate the x87 80-bit format), so the stored
// value and the reply are Redis' bytes. Checks in Redis' order: the increment (a
// number, then not NaN or infinite), the key's type, the field's value, the sum.
func hincrbyfloatCommand(ks *Keyspace, r *Reply, args [][]byte) {
	incr, ok := parseLongDouble(args[3])
	if !ok {
		r.Error(errNotFloat)
		return
	}
	if incr.IsInf() {
		r.Error("ERR value is NaN or Infinity")
		return
	}
	v, ok := hashForWrite(ks, r, args[1])
	if !ok {
		return
	}
	f := string(args[2])
	cur := newLD()
	if old, exists := v.Hash[f]; exists {
		if cur, ok = parseLongDouble(old); !ok {
			r.Error(errHashNotFlt)
			return
		}
	}
	sum, ok := addLongDouble(cur, incr)
	if !ok {
		r.Error(errIncrNaNInf)
		return
	}
	out := formatLongDouble(sum)
	v.Hash[f] = out
	ks.Put(args[1], v)
	r.Bulk(out)
}

// hrandfieldCommand is HRANDFIELD key [count [WITHVALUES]], following Redis'
// hrandfieldCommand and hrandfieldWithCountCommand: a positive count gives distinct
// fields (the whole hash when count >= its size), a negative count |count| picks that
// may repeat. Picks use ks.Rand() over the fields in byte order, so one seed gives one
// answer.
//
// Where hotswap differs: Redis streams any number of repeated picks; hotswap builds the
// reply in memory, so a negative count whose reply would exceed maxRandomReplyBytes
// gets an error instead of exhausting the proxy's memory.
func hrandfieldCommand(ks *Keyspace, r *Reply, args [][]byte) {
	if len(args) < 3 {
		v, ok := lookupHash(ks, r, args[1])
		if !ok {
			return
		}
		if v == nil {
			r.Null()
			return
		}
		fields := sortedFields(v.Hash)
		r.BulkString(fields[ks.Rand().IntN(len(fields))])
		return
	}
	l, ok := parseRandomCount(r, args[2])
	if !ok {
		return
	}
	withValues := false
	if len(args) > 4 || (len(args) == 4 && !argIsKeyword(args[3], "withvalues")) {
		r.Error(errSyntax)
		return
	}
	if len(args) == 4 {
		withValues = true
		// Redis doubles the count for the RESP2 reply and refuses what could overflow.
		if l < -math.MaxInt64/2 || l > math.MaxInt64/2 {
			r.Error("ERR value is out of range")
			return
		}
	}
	v, ok := lookupHash(ks, r, args[1])
	if !ok {
		return
	}
	if v == nil || l == 0 {
		r.Array(0)
		return
	}
	fields := sortedFields(v.Hash)
	writeField := func(f string) {
		if withValues && r.Proto() == 3 {
			r.Array(2) // RESP3: one [field, value] array per pick
		}
		r.BulkString(f)
		if withValues {
			r.Bulk(v.Hash[f])
		}
	}
	header := func(n int) {
		if withValues && r.Proto() == 2 {
			r.Array(2 * n) // RESP2: field, value, field, value, ...
			return
		}
		r.Array(n)
	}
	if l < 0 || l == 1 {
		count := uint64(-l)
		if l == 1 {
			count = 1
		}
		per := 0
		for f, val := range v.Hash {
			n := len(f)
			if withValues {
				n += len(val)
			}
			per = max(per, n)
		}
		if randomReplyTooLarge(count, per) {
			r.Error(errRandomTooLarge)
			return
		}
		header(int(count))
		for range count {
			writeField(fields[ks.Rand().IntN(len(fields))])
		}
		return
	}
	if uint64(l) >= uint64(len(fields)) {
		header(len(fields))
		for _, f := range fields {
			writeField(f)
		}
		return
	}
	picked := pickDistinct(ks, fields, int(l))
	header(len(picked))
	for _, f := range picked {
		writeField(f)
	}
}

// parseRandomCount parses the count of HRANDFIELD and SRANDMEMBER as Redis'
// getRangeLongFromObjectOrReply(-LONG_MAX, LONG_MAX) does, replying its errors.
func parseRandomCount(r *Reply, b []byte) (int64, bool) {
	l, ok := parseRedisLL(b)
	if !ok {
		r.Error(errNotInteger)
		return 0, false
	}
	if l == math.MinInt64 {
		r.Error("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807")
		return 0, false
	}
	return l, true
}

// maxRandomReplyBytes bounds the reply of repeated random picks (a negative count to
// HRANDFIELD or SRANDMEMBER), estimated from the largest element; it is Redis' default
// proto-max-bulk-len, the largest single value Redis accepts.
const maxRandomReplyBytes = 512 << 20

const errRandomTooLarge = "ERR count is too large: hotswap cannot build a reply of that many random elements"

// randomReplyTooLarge reports whether count picks of elements of up to elemBytes bytes
// (plus RESP framing) would exceed maxRandomReplyBytes.
func randomReplyTooLarge(count uint64, elemBytes int) bool {
	per := uint64(elemBytes) + 32
	return count > maxRandomReplyBytes/per
}

// pickDistinct returns n distinct elements of sorted (n < len(sorted)) in random order,
// by a partial Fisher-Yates shuffle of a copy.
func pickDistinct(ks *Keyspace, sorted []string, n int) []string {
	s := slices.Clone(sorted)
	rng := ks.Rand()
	for i := 0; i < n; i++ {
		j := i + rng.IntN(len(s)-i)
		s[i], s[j] = s[j], s[i]
	}
	return s[:n]
}

// hscanCommand: see scan.go for how hotswap's pages differ from Redis'. Redis parses
// the cursor first, then looks the key up (an empty page for a missing key, WRONGTYPE),
// and only then the options.
func hscanCommand(ks *Keyspace, r *Reply, args [][]byte) {
	if _, ok := parseScanCursor(args[2]); !ok {
		r.Error(errInvalidCursor)
		return
	}
	v, ok := lookupHash(ks, r, args[1])
	if !ok {
		return
	}
	if v == nil {
		writeScanPage(r, 0, nil)
		return
	}
	opts, errMsg := parseScanOpts(args[3:], false)
	if errMsg != "" {
		r.Error(errMsg)
		return
	}
	var elems [][]byte
	for _, f := range sortedFields(v.Hash) {
		if opts.matches([]byte(f)) {
			elems = append(elems, []byte(f), v.Hash[f])
		}
	}
	writeScanPage(r, 0, elems)
}
