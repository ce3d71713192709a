package translate

// globMaxNesting is Redis' guard against abusive patterns (CVE-2022-36021): a '*' that
// recurses more than this deep fails to match, whatever follows.
const globMaxNesting = 1000

// globMatch reports whether s matches the glob-style pattern as Redis 7.0's
// stringmatchlen (src/util.c) does with nocase=0, which is what KEYS, SCAN, HSCAN and
// SSCAN use for MATCH: `*`, `?`, `[abc]`, `[^abc]`, `[a-z]` (a reversed range `[z-a]` is
// the same range), backslash escapes inside and outside brackets, an unterminated `[`
// matching what it has read so far, the nesting guard above, and the early exit Redis
// takes once a '*' has failed to match the rest of the pattern anywhere (it keeps the
// cost polynomial and does not change the result).
//
// It is a transliteration of the C code, quirks included:
//   - Redis reads the byte just past the pattern's end (the NUL terminator of the sds
//     string) in a few places; here that byte is 0.
//   - Range bounds and the tested byte are C chars, which are signed on x86-64 (the
//     Redis hotswap is checked against): a byte >= 0x80 is negative there, so "[a-\xff]"
//     is the range -1..'a': it matches 0xff and 0x00-'a', not 0x80-0xfe. The bytes go through int8
//     to compare in the same order. (A Redis built where char is unsigned, as on arm64,
//     orders them 0-255 instead.)
//   - An empty string matches no pattern but the empty one: "*" does not match "". The
//     SCAN family never calls this for the pattern "*", which Redis treats as no pattern.
func globMatch(pattern, s []byte) bool {
	skip := false
	return globMatchImpl(pattern, 0, s, 0, &skip, 0)
}

// globMatchImpl matches pattern[p:] against s[i:]. skipLonger is Redis'
// skipLongerMatches, shared by every level of one match.
func globMatchImpl(pattern []byte, p int, s []byte, i int, skipLonger *bool, nesting int) bool {
	if nesting > globMaxNesting {
		return false
	}
	// at reads the pattern as C does, with the terminating NUL after its last byte.
	at := func(k int) byte {
		if k < len(pattern) {
			return pattern[k]
		}
		return 0
	}
	for p < len(pattern) && i < len(s) {
		switch pattern[p] {
		case '*':
			for p < len(pattern) && at(p+1) == '*' {
				p++
			}
			if len(pattern)-p == 1 {
				return true
			}
			for i < len(s) {
				if globMatchImpl(pattern, p+1, s, i, skipLonger, nesting+1) {
					return true
				}
				if *skipLonger {
					return false
				}
				i++
			}
			// No match for the rest of the pattern from anywhere in the rest of s: an
			// earlier '*' matching more of s cannot help either.
			*skipLonger = true
			return false
		case '?':
			i++
		case '[':
			p++
			not := at(p) == '^'
			if not {
				p++
			}
			match := false
			for {
				if at(p) == '\\' && len(pattern)-p >= 2 {
					p++
					if pattern[p] == s[i] {
						match = true
					}
				} else if at(p) == ']' {
					break
				} else if p == len(pattern) {
					// Unterminated '[': step back so the outer loop's step ends the pattern.
					p--
					break
				} else if len(pattern)-p >= 3 && pattern[p+1] == '-' {
					start, end, c := int(int8(pattern[p])), int(int8(pattern[p+2])), int(int8(s[i]))
					if start > end {
						start, end = end, start
					}
					p += 2
					if c >= start && c <= end {
						match = true
					}
				} else if pattern[p] == s[i] {
					match = true
				}
				p++
			}
			if not {
				match = !match
			}
			if !match {
				return false
			}
			i++
		case '\\':
			if len(pattern)-p >= 2 {
				p++
			}
			if pattern[p] != s[i] {
				return false
			}
			i++
		default:
			if pattern[p] != s[i] {
				return false
			}
			i++
		}
		p++
		if i == len(s) {
			for at(p) == '*' {
				p++
			}
			break
		}
	}
	return p == len(pattern) && i == len(s)
}
