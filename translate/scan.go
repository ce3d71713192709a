package translate

import "strconv"

// The SCAN family (SCAN, HSCAN, SSCAN) shares its cursor and option parsing with
// Redis 7.0's parseScanCursorOrReply and scanGenericCommand (src/db.c); these helpers
// reproduce both, errors included.
//
// Where hotswap differs from Redis: a whole hash or set is one DynamoDB item, already
// in memory when the command runs, so HSCAN and SSCAN return every matching element in
// one page with cursor 0, whatever COUNT and the cursor say. Redis does exactly that
// for small hashes (listpack) and integer sets (intset), ignoring the cursor; for a
// large hash or set it pages through its hash table, COUNT buckets at a time, and a
// made-up non-zero cursor gives some subset. A client that loops until cursor 0 sees the
// same elements either way.

// scanDefaultCount is COUNT when the command does not give it.
const scanDefaultCount = 10

// scanOpts are the options of a SCAN-family command after its cursor.
type scanOpts struct {
	// pattern is MATCH's pattern; usePattern is false without MATCH and for the
	// pattern "*", which Redis treats as no pattern at all.
	pattern    []byte
	usePattern bool
	// count is COUNT (scanDefaultCount when absent): a hint of how much work one call
	// does, not a number of elements.
	count int64
	// typ is TYPE's argument (SCAN only), nil when absent. Redis 7.0 compares it with
	// each key's type name case-insensitively and accepts any name, so an unknown
	// type filters every key out (7.2 made that an error).
	typ []byte
}

// parseScanCursor reads a cursor as Redis does with strtoul(3) in base 10: an optional
// sign, decimal digits, and nothing after them but a NUL byte (Redis reads the argument
// as a C string). Redis refuses a cursor that starts with white space, has anything
// else after the digits, or does not fit 64 bits; it accepts the empty string (cursor
// 0, strtoul converts nothing but stops on the terminator), a leading '+', and a
// leading '-', which negates modulo 2^64 ("-1" is 18446744073709551615). ok is false
// where Redis replies "ERR invalid cursor".
func parseScanCursor(b []byte) (cursor uint64, ok bool) {
	if len(b) > 0 && isCSpace(b[0]) {
		return 0, false
	}
	// C sees the argument up to its first NUL byte.
	for i, c := range b {
		if c == 0 {
			b = b[:i]
			break
		}
	}
	if len(b) == 0 {
		return 0, true
	}
	neg := false
	digits := b
	if digits[0] == '+' || digits[0] == '-' {
		neg = digits[0] == '-'
		digits = digits[1:]
	}
	if len(digits) == 0 {
		return 0, false // a lone sign: nothing converted, eptr on the sign
	}
	var v uint64
	overflow := false
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if v > (^uint64(0)-d)/10 {
			overflow = true
			continue
		}
		v = v*10 + d
	}
	if overflow {
		return 0, false // ERANGE
	}
	if neg {
		v = -v
	}
	return v, true
}

// errInvalidCursor is the reply to a cursor parseScanCursor refuses.
const errInvalidCursor = "ERR invalid cursor"

// parseScanOpts parses the options that follow the cursor (args are only the options),
// left to right as Redis does, so the first bad option decides the error. allowType
// admits TYPE (SCAN over the keyspace; HSCAN and SSCAN refuse it as a syntax error).
// errMsg is the error to reply, or "" when the options are valid.
//
// For HSCAN and SSCAN Redis parses the options only after looking the key up, so a
// missing key replies an empty page and a key of the wrong type WRONGTYPE, whatever
// the options are; callers keep that order.
func parseScanOpts(args [][]byte, allowType bool) (o scanOpts, errMsg string) {
	o.count = scanDefaultCount
	for i := 0; i < len(args); {
		more := len(args) - i // the option and what follows it
		switch {
		case argIsKeyword(args[i], "count") && more >= 2:
			n, ok := parseRedisLL(args[i+1])
			if !ok {
				return o, errNotInteger
			}
			if n < 1 {
				return o, errSyntax
			}
			o.count = n
			i += 2
		case argIsKeyword(args[i], "match") && more >= 2:
			o.pattern = args[i+1]
			o.usePattern = !(len(o.pattern) == 1 && o.pattern[0] == '*')
			i += 2
		case allowType && argIsKeyword(args[i], "type") && more >= 2:
			o.typ = args[i+1]
			i += 2
		default:
			return o, errSyntax
		}
	}
	return o, ""
}

// matches reports whether an element (a key, a field or a member) passes MATCH.
func (o *scanOpts) matches(elem []byte) bool {
	return !o.usePattern || globMatch(o.pattern, elem)
}

// writeScanPage writes a SCAN-family reply: the next cursor as a bulk string, then the
// elements as an array (an array in RESP3 too, as Redis sends it; HSCAN's is flat
// field, value, field, value).
func writeScanPage(r *Reply, cursor uint64, elems [][]byte) {
	r.Array(2)
	r.BulkString(strconv.FormatUint(cursor, 10))
	r.Array(len(elems))
	for _, e := range elems {
		r.Bulk(e)
	}
}

// argIsKeyword reports whether arg is the keyword kw (lower case) as Redis' strcasecmp
// sees it: case-insensitively in ASCII, and only up to arg's first NUL byte, so
// "COUNT\x00junk" is COUNT.
func argIsKeyword(arg []byte, kw string) bool {
	for i, c := range arg {
		if c == 0 {
			arg = arg[:i]
			break
		}
	}
	if len(arg) != len(kw) {
		return false
	}
	for i := 0; i < len(kw); i++ {
		c := arg[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != kw[i] {
			return false
		}
	}
	return true
}

// parseRedisLL parses a 64-bit integer argument as Redis' string2ll (src/util.c) does:
// an optional '-', no '+', no leading zeros ("0" alone excepted), no spaces, fewer than
// 21 bytes, within int64. Everything Redis reads with getLongLongFromObject or
// getLongFromObject (COUNT, HINCRBY's increment, SPOP's count, ...) goes through it.
func parseRedisLL(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) >= 21 {
		return 0, false
	}
	if len(b) == 1 && b[0] == '0' {
		return 0, true
	}
	neg := false
	p := b
	if p[0] == '-' {
		neg = true
		p = p[1:]
		if len(p) == 0 {
			return 0, false
		}
	}
	if p[0] < '1' || p[0] > '9' {
		return 0, false
	}
	var v uint64
	for _, c := range p {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if v > (^uint64(0)-d)/10 {
			return 0, false
		}
		v = v*10 + d
	}
	if neg {
		if v > 1<<63 {
			return 0, false
		}
		return int64(-v), true
	}
	if v > 1<<63-1 {
		return 0, false
	}
	return int64(v), true
}
