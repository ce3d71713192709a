package translate

import (
	"bytes"
	"maps"
	"slices"
)

// setHandlers are the set commands (SADD, SMEMBERS, ...). See sets_test.go.
//
// They reproduce Redis 7.0's src/t_set.c, including the order of its checks (which
// argument is parsed, and which key's type is checked, first). Replies that list members
// come in byte order: Redis' order depends on the encoding and hash seed and is not
// defined, and a fixed order makes hotswap's replies reproducible. Random picks (SPOP,
// SRANDMEMBER) use ks.Rand() over the members in byte order, so one seed gives one
// answer.
var setHandlers = []handlerEntry{
	{"sadd", saddCommand},
	{"srem", sremCommand},
	{"smembers", smembersCommand},
	{"sismember", sismemberCommand},
	{"smismember", smismemberCommand},
	{"scard", scardCommand},
	{"spop", spopCommand},
	{"srandmember", srandmemberCommand},
	{"smove", smoveCommand},
	{"sinter", sinterCommand},
	{"sintercard", sintercardCommand},
	{"sinterstore", sinterstoreCommand},
	{"sunion", sunionCommand},
	{"sunionstore", sunionstoreCommand},
	{"sdiff", sdiffCommand},
	{"sdiffstore", sdiffstoreCommand},
	{"sscan", sscanCommand},
}

// lookupSet returns the set at key (nil when the key does not exist) and reports false,
// having replied WRONGTYPE, when the key holds another type.
func lookupSet(ks *Keyspace, r *Reply, key []byte) (*Value, bool) {
	v := ks.Get(key)
	if v != nil && v.Kind != KindSet {
		r.Error(errWrongType)
		return nil, false
	}
	return v, true
}

// sortedMembers returns the members of s in byte order.
func sortedMembers(s map[string]struct{}) []string { return slices.Sorted(maps.Keys(s)) }

// writeMembers writes members as a set reply (~ in RESP3, an array in RESP2), as
// SMEMBERS, SINTER, SUNION, SDIFF and SPOP with a count reply.
func writeMembers(r *Reply, members []string) {
	r.Set(len(members))
	for _, m := range members {
		r.BulkString(m)
	}
}

// saddCommand adds members; a new set has no expiry, an existing one keeps its own.
func saddCommand(ks *Keyspace, r *Reply, args [][]byte) {
	v, ok := lookupSet(ks, r, args[1])
	if !ok {
		return
	}
	if v == nil {
		v = NewSet()
	}
	added := 0
	for _, m := range args[2:] {
		if _, exists := v.Set[string(m)]; !exists {
			v.Set[string(m)] = struct{}{}
			added++
		}
	}
	if added > 0 {
		ks.Put(args[1], v)
	}
	r.Int(int64(added))
}

func sremCommand(ks *Keyspace, r *Reply, args [][]byte) {
	v, ok := lookupSet(ks, r, args[1])
	if !ok {
		return
	}
	if v == nil {
		r.Int(0)
		return
	}
	removed := 0
	for _, m := range args[2:] {
		if _, exists := v.Set[string(m)]; exists {
			delete(v.Set, string(m))
			removed++
		}
	}
	if removed > 0 {
		ks.Put(args[1], v) // an emptied set deletes the key, as in Redis
	}
	r.Int(int64(removed))
}

// smembersCommand: in Redis 7.0 SMEMBERS is SINTER of one key, so a missing key is an
// empty set reply (~0 in RESP3).
func smembersCommand(ks *Keyspace, r *Reply, args [][]byte) {
	v, ok := lookupSet(ks, r, args[1])
	if !ok {
		return
	}
	if v == nil {
		r.Set(0)
		return
	}
	writeMembers(r, sortedMembers(v.Set))
}

func sismemberCommand(ks *Keyspace, r *Reply, args [][]byte) {
	v, ok := lookupSet(ks, r, args[1])
	if !ok {
		return
	}
	if v != nil {
		if _, exists := v.Set[string(args[2])]; exists {
			r.Int(1)
			return
		}
	}
	r.Int(0)
}

func smismemberCommand(ks *Keyspace, r *Reply, args [][]byte) {
	v, ok := lookupSet(ks, r, args[1])
	if !ok {
		return
	}
	r.Array(len(args) - 2)
	for _, m := range args[2:] {
		in := int64(0)
		if v != nil {
			if _, exists := v.Set[string(m)]; exists {
				in = 1
			}
		}
		r.Int(in)
	}
}

func scardCommand(ks *Keyspace, r *Reply, args [][]byte) {
	v, ok := lookupSet(ks, r, args[1])
	if !ok {
		return
	}
	if v == nil {
		r.Int(0)
		return
	}
	r.Int(int64(len(v.Set)))
}

// spopCommand is SPOP key [count]. With a count, Redis parses it before looking at the
// key and replies a set (~ in RESP3); without, a bulk string.
func spopCommand(ks *Keyspace, r *Reply, args [][]byte) {
	if len(args) > 3 {
		r.Error(errSyntax)
		return
	}
	if len(args) == 2 {
		v, ok := lookupSet(ks, r, args[1])
		if !ok {
			return
		}
		if v == nil {
			r.Null()
			return
		}
		members := sortedMembers(v.Set)
		m := members[ks.Rand().IntN(len(members))]
		delete(v.Set, m)
		ks.Put(args[1], v)
		r.BulkString(m)
		return
	}
	// getPositiveLongFromObjectOrReply: anything but a non-negative integer, a
	// malformed number included, gets the same error.
	count, ok := parseRedisLL(args[2])
	if !ok || count < 0 {
		r.Error(errOutOfRange)
		return
	}
	v, ok := lookupSet(ks, r, args[1])
	if !ok {
		return
	}
	if v == nil || count == 0 {
		r.Set(0)
		return
	}
	members := sortedMembers(v.Set)
	if uint64(count) >= uint64(len(members)) {
		ks.Del(args[1])
		writeMembers(r, members)
		return
	}
	picked := pickDistinct(ks, members, int(count))
	for _, m := range picked {
		delete(v.Set, m)
	}
	ks.Put(args[1], v)
	writeMembers(r, picked)
}

// srandmemberCommand is SRANDMEMBER key [count]: a positive count gives distinct
// members (the whole set when count >= its size), a negative count |count| picks that
// may repeat; the reply is an array (not a set) in RESP3 too, as in Redis.
//
// Where hotswap differs: as for HRANDFIELD, a negative count whose reply would exceed
// maxRandomReplyBytes gets an error, where Redis would stream it.
func srandmemberCommand(ks *Keyspace, r *Reply, args [][]byte) {
	if len(args) > 3 {
		r.Error(errSyntax)
		return
	}
	if len(args) == 2 {
		v, ok := lookupSet(ks, r, args[1])
		if !ok {
			return
		}
		if v == nil {
			r.Null()
			return
		}
		members := sortedMembers(v.Set)
		r.BulkString(members[ks.Rand().IntN(len(members))])
		return
	}
	l, ok := parseRandomCount(r, args[2])
	if !ok {
		return
	}
	v, ok := lookupSet(ks, r, args[1])
	if !ok {
		return
	}
	if v == nil || l == 0 {
		r.Array(0)
		return
	}
	members := sortedMembers(v.Set)
	if l < 0 || l == 1 {
		count := uint64(-l)
		if l == 1 {
			count = 1
		}
		per := 0
		for _, m := range members {
			per = max(per, len(m))
		}
		if randomReplyTooLarge(count, per) {
			r.Error(errRandomTooLarge)
			return
		}
		r.Array(int(count))
		for range count {
			r.BulkString(members[ks.Rand().IntN(len(members))])
		}
		return
	}
	if uint64(l) >= uint64(len(members)) {
		r.Array(len(members))
		for _, m := range members {
			r.BulkString(m)
		}
		return
	}
	picked := pickDistinct(ks, members, int(l))
	r.Array(len(picked))
	for _, m := range picked {
		r.BulkString(m)
	}
}

// smoveCommand follows Redis' order: a missing source replies 0 before any type check
// (even when the destination holds another type); then the source's type, then the
// destination's; a move within one key only reports membership. The source keeps its
// expiry; a destination created by the move has none, an existing one keeps its own.
func smoveCommand(ks *Keyspace, r *Reply, args [][]byte) {
	srcKey, dstKey, m := args[1], args[2], string(args[3])
	src, dst := ks.Get(srcKey), ks.Get(dstKey)
	if src == nil {
		r.Int(0)
		return
	}
	if src.Kind != KindSet || (dst != nil && dst.Kind != KindSet) {
		r.Error(errWrongType)
		return
	}
	if bytes.Equal(srcKey, dstKey) {
		if _, exists := src.Set[m]; exists {
			r.Int(1)
			return
		}
		r.Int(0)
		return
	}
	if _, exists := src.Set[m]; !exists {
		r.Int(0)
		return
	}
	delete(src.Set, m)
	ks.Put(srcKey, src)
	if dst == nil {
		dst = NewSet()
	}
	if _, exists := dst.Set[m]; !exists {
		dst.Set[m] = struct{}{}
		ks.Put(dstKey, dst)
	}
	r.Int(1)
}

// loadSets returns the sets at keys (nil for a missing key), checking every key's type
// before anything is computed, as Redis 7.0 does: SINTER a-missing-key a-string-key is
// WRONGTYPE, not an empty set.
func loadSets(ks *Keyspace, r *Reply, keys [][]byte) ([]*Value, bool) {
	sets := make([]*Value, len(keys))
	for i, k := range keys {
		v, ok := lookupSet(ks, r, k)
		if !ok {
			return nil, false
		}
		sets[i] = v
	}
	return sets, true
}

func sinterCommand(ks *Keyspace, r *Reply, args [][]byte) {
	sinterGeneric(ks, r, args[1:], nil, false, 0)
}

func sinterstoreCommand(ks *Keyspace, r *Reply, args [][]byte) {
	sinterGeneric(ks, r, args[2:], args[1], false, 0)
}

// sintercardCommand is SINTERCARD numkeys key [key ...] [LIMIT limit]. Redis checks
// numkeys (its own error for anything but a positive integer), that the keys fit in
// the arguments, then the options left to right, and only then the keys' types.
func sintercardCommand(ks *Keyspace, r *Reply, args [][]byte) {
	numkeys, ok := parseRedisLL(args[1])
	if !ok || numkeys < 1 {
		r.Error("ERR numkeys should be greater than 0")
		return
	}
	if numkeys > int64(len(args)-2) {
		r.Error("ERR Number of keys can't be greater than number of args")
		return
	}
	var limit int64
	for j := 2 + int(numkeys); j < len(args); j++ {
		more := len(args) - 1 - j
		if !argIsKeyword(args[j], "limit") || more == 0 {
			r.Error(errSyntax)
			return
		}
		j++
		n, ok := parseRedisLL(args[j])
		if !ok || n < 0 {
			r.Error("ERR LIMIT can't be negative")
			return
		}
		limit = n
	}
	sinterGeneric(ks, r, args[2:2+numkeys], nil, true, limit)
}

// sinterGeneric is Redis' sinterGenericCommand: the intersection of the sets at keys,
// replied as a set, counted (SINTERCARD, stopping at limit when limit > 0), or stored
// at dst (SINTERSTORE: a new key without expiry replacing whatever dst held, or no key
// when the intersection is empty). A missing key is an empty set.
func sinterGeneric(ks *Keyspace, r *Reply, keys [][]byte, dst []byte, cardOnly bool, limit int64) {
	sets, ok := loadSets(ks, r, keys)
	if !ok {
		return
	}
	var result []string
	if !slices.Contains(sets, nil) {
		// Walk the smallest set and probe the others, as Redis does.
		slices.SortStableFunc(sets, func(a, b *Value) int { return len(a.Set) - len(b.Set) })
		for _, m := range sortedMembers(sets[0].Set) {
			in := true
			for _, s := range sets[1:] {
				if _, exists := s.Set[m]; !exists {
					in = false
					break
				}
			}
			if !in {
				continue
			}
			result = append(result, m)
			if cardOnly && limit > 0 && int64(len(result)) >= limit {
				break
			}
		}
	}
	switch {
	case dst != nil:
		storeSetResult(ks, r, dst, result)
	case cardOnly:
		r.Int(int64(len(result)))
	default:
		writeMembers(r, result)
	}
}

// storeSetResult is the end of the *STORE commands: dst becomes a new set of members
// (no expiry, whatever dst held before) or, with no members, no key; the reply is the
// number of members.
func storeSetResult(ks *Keyspace, r *Reply, dst []byte, members []string) {
	if len(members) == 0 {
		ks.Del(dst)
		r.Int(0)
		return
	}
	v := NewSet()
	for _, m := range members {
		v.Set[m] = struct{}{}
	}
	ks.Put(dst, v)
	r.Int(int64(len(members)))
}

func sunionCommand(ks *Keyspace, r *Reply, args [][]byte) {
	sunionDiffGeneric(ks, r, args[1:], nil, false)
}

func sunionstoreCommand(ks *Keyspace, r *Reply, args [][]byte) {
	sunionDiffGeneric(ks, r, args[2:], args[1], false)
}

func sdiffCommand(ks *Keyspace, r *Reply, args [][]byte) {
	sunionDiffGeneric(ks, r, args[1:], nil, true)
}

func sdiffstoreCommand(ks *Keyspace, r *Reply, args [][]byte) {
	sunionDiffGeneric(ks, r, args[2:], args[1], true)
}

// sunionDiffGeneric is Redis' sunionDiffGenericCommand: the union of the sets at keys,
// or the members of the first that are in none of the others (diff), replied as a set
// or stored at dst. A missing key is an empty set.
func sunionDiffGeneric(ks *Keyspace, r *Reply, keys [][]byte, dst []byte, diff bool) {
	sets, ok := loadSets(ks, r, keys)
	if !ok {
		return
	}
	var result []string
	if diff {
		if sets[0] != nil {
			for _, m := range sortedMembers(sets[0].Set) {
				in := false
				for _, s := range sets[1:] {
					if s == nil {
						continue
					}
					if _, exists := s.Set[m]; exists {
						in = true
						break
					}
				}
				if !in {
					result = append(result, m)
				}
			}
		}
	} else {
		union := map[string]struct{}{}
		for _, s := range sets {
			if s != nil {
				maps.Copy(union, s.Set)
			}
		}
		result = sortedMembers(union)
	}
	if dst != nil {
		storeSetResult(ks, r, dst, result)
		return
	}
	writeMembers(r, result)
}

// sscanCommand: see scan.go for how hotswap's pages differ from Redis'. Redis parses the
// cursor first, then looks the key up (an empty page for a missing key, WRONGTYPE), and
// only then the options.
func sscanCommand(ks *Keyspace, r *Reply, args [][]byte) {
	if _, ok := parseScanCursor(args[2]); !ok {
		r.Error(errInvalidCursor)
		return
	}
	v, ok := lookupSet(ks, r, args[1])
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
	for _, m := range sortedMembers(v.Set) {
		if opts.matches([]byte(m)) {
			elems = append(elems, []byte(m))
		}
	}
	writeScanPage(r, 0, elems)
}
