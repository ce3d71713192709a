package translate

import (
	"math/big"
)

// Redis does INCRBYFLOAT and HINCRBYFLOAT in C `long double`, which on x86-64 is the x87
// 80-bit extended format: a 64-bit significand (explicit integer bit), exponents from
// 2^-16382 (normal) down to 2^-16445 (subnormal), and overflow at 2^16384. The helpers
// below emulate it with math/big.Float at precision 64, rounding to nearest-even, and
// apply the format's exponent range by hand, so a reply is the same bytes Redis sends:
// 0.1 + 0.2 gives "0.3" (it would be "0.30000000000000004" in float64).
const (
	ldPrec        = 64
	ldMaxExp      = 16384  // |x| >= 2^16384 overflows to infinity
	ldMinNormExp  = -16381 // big.Float exponent (x = m·2^e, 0.5 <= m < 1) of the smallest normal, 2^-16382
	ldQuantumExp  = -16445 // the smallest subnormal, 2^-16445: the spacing of values below 2^-16381
	ldMaxChars    = 5 * 1024
	ldDecExpLimit = 1 << 30 // decimal/binary exponents are clamped here while parsing; far beyond any result
)

// newLD returns a zero big.Float configured as a long double.
func newLD() *big.Float { return new(big.Float).SetPrec(ldPrec).SetMode(big.ToNearestEven) }

// parseLongDouble reads b as Redis' string2ld does (src/util.c, Redis 7.0): glibc's
// strtold must read all of b, and the number is refused when b is empty or 5120 bytes or
// longer, when it starts with white space, when anything follows the number (a NUL byte
// included), when it is NaN, or when it overflows or underflows to zero (ERANGE). So
// "1e" " 1" "1 " "nan" "" "1e5000" are refused, while ".5" "5." "+1" "0x10" "0x1p-3"
// "1e-4940" (subnormal) and "inf"/"-Infinity" are numbers.
//
// The result is strtold's, correctly rounded to the long double, and may be ±Inf
// (HINCRBYFLOAT refuses an infinite increment itself). Add with addLongDouble, which
// refuses NaN and infinite sums as Redis does; big.Float.Add panics on Inf + -Inf.
func parseLongDouble(b []byte) (*big.Float, bool) {
	if len(b) == 0 || len(b) >= ldMaxChars {
		return nil, false
	}
	if isCSpace(b[0]) {
		return nil, false
	}
	neg := false
	s := b
	if s[0] == '+' || s[0] == '-' {
		neg = s[0] == '-'
		s = s[1:]
	}
	if len(s) == 0 {
		return nil, false
	}
	// Infinity: "inf" or "infinity", any case. NaN ("nan", "nan(...)") is refused.
	if hasPrefixFold(s, "inf") {
		if len(s) == 3 || (len(s) == 8 && hasPrefixFold(s, "infinity")) {
			return newLD().SetInf(neg), true
		}
		return nil, false
	}
	if len(s) >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		return parseHexLD(s[2:], neg)
	}
	return parseDecLD(s, neg)
}

// parseDecLD parses the rest of a decimal strtold number (digits, '.', exponent), which
// must be all of s.
func parseDecLD(s []byte, neg bool) (*big.Float, bool) {
	var digits []byte // significant digits, leading zeros dropped
	exp10 := 0        // the value is digits × 10^exp10
	nd, i := 0, 0
	seenDot := false
	for ; i < len(s); i++ {
		c := s[i]
		if c == '.' {
			if seenDot {
				break
			}
			seenDot = true
			continue
		}
		if c < '0' || c > '9' {
			break
		}
		nd++
		if seenDot {
			exp10--
		}
		if c == '0' && len(digits) == 0 {
			continue
		}
		digits = append(digits, c)
	}
	if nd == 0 {
		return nil, false // "." "e5" "-": nothing converted
	}
	if i < len(s) {
		e, n, ok := parseExponent(s[i:], 'e', 'E')
		if !ok || n != len(s)-i {
			return nil, false
		}
		exp10 += e
	}
	if len(digits) == 0 {
		return signedZero(neg), true
	}
	// Quick range checks before computing: the value lies in
	// [10^(len(digits)-1+exp10), 10^(len(digits)+exp10)); the long double range is about
	// [3.6e-4951, 1.19e4932].
	if len(digits)-1+exp10 > 4933 {
		return nil, false // overflow: HUGE_VALL with ERANGE
	}
	if len(digits)+exp10 < -4952 {
		return nil, false // underflow to zero with ERANGE
	}
	mant, _ := new(big.Int).SetString(string(digits), 10)
	r := new(big.Rat).SetInt(mant)
	if exp10 > 0 {
		r.Mul(r, new(big.Rat).SetInt(pow10(exp10)))
	} else if exp10 < 0 {
		r.Quo(r, new(big.Rat).SetInt(pow10(-exp10)))
	}
	return ratToLD(r, neg)
}

// parseHexLD parses what follows "0x" in a strtold hex float: hex digits with an optional
// '.', and an optional binary exponent 'p'.
func parseHexLD(s []byte, neg bool) (*big.Float, bool) {
	mant := new(big.Int)
	exp2 := 0
	nd, i := 0, 0
	seenDot := false
	for ; i < len(s); i++ {
		c := s[i]
		if c == '.' {
			if seenDot {
				break
			}
			seenDot = true
			continue
		}
		v, ok := hexVal(c)
		if !ok {
			break
		}
		nd++
		if seenDot {
			exp2 -= 4
		}
		mant.Lsh(mant, 4)
		mant.Or(mant, big.NewInt(int64(v)))
	}
	if nd == 0 {
		return nil, false // "0x" alone: strtold reads "0" and stops at 'x'
	}
	if i < len(s) {
		e, n, ok := parseExponent(s[i:], 'p', 'P')
		if !ok || n != len(s)-i {
			return nil, false
		}
		exp2 += e
	}
	if mant.Sign() == 0 {
		return signedZero(neg), true
	}
	nb := mant.BitLen()
	if nb-1+exp2 >= ldMaxExp {
		return nil, false
	}
	if nb+exp2 < ldQuantumExp-1 {
		return nil, false
	}
	r := new(big.Rat).SetInt(mant)
	if exp2 > 0 {
		r.Mul(r, new(big.Rat).SetInt(new(big.Int).Lsh(big.NewInt(1), uint(exp2))))
	} else if exp2 < 0 {
		r.Quo(r, new(big.Rat).SetInt(new(big.Int).Lsh(big.NewInt(1), uint(-exp2))))
	}
	return ratToLD(r, neg)
}

// parseExponent reads an exponent marker (lo or up), an optional sign and at least one
// decimal digit at the start of s, clamping the value. It returns the exponent and the
// bytes read; ok is false when s does not start with a complete exponent (strtold then
// leaves the marker unread).
func parseExponent(s []byte, lo, up byte) (exp, n int, ok bool) {
	if len(s) == 0 || (s[0] != lo && s[0] != up) {
		return 0, 0, false
	}
	i := 1
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	start := i
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		if exp < ldDecExpLimit {
			exp = exp*10 + int(s[i]-'0')
		}
	}
	if i == start {
		return 0, 0, false
	}
	if neg {
		exp = -exp
	}
	return exp, i, true
}

// ratToLD rounds the positive rational r to the nearest long double (ties to even),
// subnormals included. It reports false when the result overflows or is zero, which
// strtold reports as ERANGE and Redis refuses.
func ratToLD(r *big.Rat, neg bool) (*big.Float, bool) {
	f := newLD().SetRat(r)
	exp := f.MantExp(nil)
	if exp > ldMaxExp {
		return nil, false
	}
	if exp <= ldMinNormExp {
		// Below 2^-16381 the spacing of long doubles is a fixed 2^-16445 (subnormals have
		// fewer than 64 significant bits): round r·2^16445 to an integer, ties to even.
		num := new(big.Int).Lsh(r.Num(), uint(-ldQuantumExp))
		q, rem := new(big.Int).QuoRem(num, r.Denom(), new(big.Int))
		switch rem.Lsh(rem, 1).Cmp(r.Denom()) {
		case 1:
			q.Add(q, big.NewInt(1))
		case 0:
			if q.Bit(0) == 1 {
				q.Add(q, big.NewInt(1))
			}
		}
		if q.Sign() == 0 {
			return nil, false
		}
		f = newLD().SetInt(q)
		f.SetMantExp(f, ldQuantumExp)
	}
	if neg {
		f.Neg(f)
	}
	return f, true
}

// addLongDouble returns a+b rounded as an x87 long double addition, or false when the
// sum is NaN or infinite (an infinite operand, or overflow): Redis' "increment would
// produce NaN or Infinity".
func addLongDouble(a, b *big.Float) (*big.Float, bool) {
	if a.IsInf() || b.IsInf() {
		return nil, false
	}
	z := newLD().Add(a, b)
	if z.Sign() != 0 && z.MantExp(nil) > ldMaxExp {
		return nil, false
	}
	return z, true
}

// formatLongDouble formats f as Redis' ld2string(LD_STR_HUMAN) (src/util.c, Redis 7.0):
// printf("%.17Lf"), then trailing zeros after the '.' and a trailing '.' removed, and "-0"
// written "0". Infinities are "inf" and "-inf". A result that would not fit Redis' 5 KiB
// buffer is the empty string, as Redis stores it (no finite long double gets there: the
// largest has 4933 integer digits).
func formatLongDouble(f *big.Float) []byte {
	if f.IsInf() {
		if f.Sign() > 0 {
			return []byte("inf")
		}
		return []byte("-inf")
	}
	buf := f.Append(nil, 'f', 17)
	if len(buf)+1 > ldMaxChars {
		return []byte{}
	}
	l := len(buf)
	for l > 0 && buf[l-1] == '0' {
		l--
	}
	if l > 0 && buf[l-1] == '.' {
		l--
	}
	buf = buf[:l]
	if l == 2 && buf[0] == '-' && buf[1] == '0' {
		return []byte("0")
	}
	return buf
}

func signedZero(neg bool) *big.Float {
	f := newLD()
	if neg {
		f.Neg(f)
	}
	return f
}

func pow10(n int) *big.Int {
	return new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil)
}

func hexVal(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// isCSpace is C's isspace in the "C" locale.
func isCSpace(c byte) bool { return c == ' ' || (c >= '\t' && c <= '\r') }

func hasPrefixFold(s []byte, prefix string) bool {
	if len(s) < len(prefix) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != prefix[i] {
			return false
		}
	}
	return true
}
