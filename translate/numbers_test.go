package translate

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"hotswap/internal/testutil"
	"hotswap/resp"
)

// modelIncrByFloat is INCRBYFLOAT's arithmetic over the helpers: cur is the key's value
// (nil: no key).
func modelIncrByFloat(cur, incr []byte) []byte {
	v := newLD()
	if cur != nil {
		var ok bool
		if v, ok = parseLongDouble(cur); !ok {
			return []byte("-" + errNotFloat + "\r\n")
		}
	}
	d, ok := parseLongDouble(incr)
	if !ok {
		return []byte("-" + errNotFloat + "\r\n")
	}
	sum, ok := addLongDouble(v, d)
	if !ok {
		return []byte("-" + errIncrNaNInf + "\r\n")
	}
	return resp.AppendBulk(nil, formatLongDouble(sum))
}

// floatCases are values worth checking as a stored value and as an increment.
var floatCases = []string{
	"0", "-0", "+0", "0.0", "-0.0", "1", "-1", "0.1", "0.2", "0.3", "1e-17", "1e-18", "5e-18",
	"5.0e3", "10.5", "3.0e300", "-3.0e300", "1.5e308", "1e309", "12345678901234567",
	"1.2345678901234567", "0.12345678901234567", "123456789012345678901234567890",
	"9223372036854775807", "-9223372036854775808", "18446744073709551615", "18446744073709551617",
	"1e4000", "-1e4000", "1.18973149535723176502e+4932", "1.18973149535723176508e+4932", "1e4933",
	"1e-4940", "3.6e-4951", "1.8e-4951", "1.9e-4951", "1e-4952", "1e-5000", "0e99999999999999",
	"1e99999999999999999999", "1e-99999999999999999999", "3.3621031431120935063e-4932",
	" 1", "1 ", "\t1", "1\n", "0x10", "0X1p3", "0x1.8p1", "0x.8", "0x", "0x.", "0xg", "0x1p",
	"0x1p-16445", "0x1p-16446", "0x1p16383", "0x1p16384", "inf", "-inf", "+inf", "INF",
	"infinity", "-Infinity", "infinit", "infx", "nan", "NaN", "-nan", "nan(123)", "1e", "1e+",
	"1e-", ".5", "5.", ".", "-", "+", "", "..5", "5..", "1.2.3", "+-1", "--1", "1e5e5",
	"abc", "1abc", "0.000003814697265625", "0.000011444091796875", "2.5e-17", "7.5e-17",
	"1\x002", "\x00", "\x00abc", "1.0000000000000000000000001", "00001", "-00.100",
	"1E3", "1e+3", "1e-3", "4.9406564584124654e-324", "100000000000000000000000000000000000e-35",
}

func TestNumbers_incrbyfloatAgainstRedis(t *testing.T) {
	srv := testutil.MustStartRedis(t)
	c := testutil.MustDialRaw(t, srv.Addr)
	check := func(cur, incr string, hasCur bool) {
		t.Helper()
		c.Do("DEL", "k")
		var curB []byte
		if hasCur {
			curB = []byte(cur)
			c.DoBytes([]byte("SET"), []byte("k"), curB)
		}
		want := c.DoBytes([]byte("INCRBYFLOAT"), []byte("k"), []byte(incr))
		got := modelIncrByFloat(curB, []byte(incr))
		if !bytes.Equal(want, got) {
			if hasCur {
				t.Errorf("SET k %q; INCRBYFLOAT k %q:\n redis: %q\n model: %q", cur, incr, want, got)
			} else {
				t.Errorf("INCRBYFLOAT k %q:\n redis: %q\n model: %q", incr, want, got)
			}
		}
	}
	for _, a := range floatCases {
		check("", a, false)
		for _, b := range []string{"0", "0.1", "-0", "1e-17", "inf", "1e4932", "-1e4932", "1e-4940"} {
			check(a, b, true)
		}
	}
	// Long strings: the 5119/5120-byte limit and outputs thousands of digits long.
	check("", "1"+strings.Repeat("0", 4932), false)
	check("", "0."+strings.Repeat("0", 5116)+"1", false)
	check("", "0."+strings.Repeat("0", 5117)+"1", false)
	check("", strings.Repeat("0", 5118)+"1", false)
	check("", strings.Repeat("0", 5119)+"1", false)
	check("", "-"+strings.Repeat("9", 4000), false)
	check("1e4931", "1.1e4932", true)

	rng := rand.New(rand.NewPCG(7, 11))
	for i := 0; i < 3000; i++ {
		check(randomFloat(rng), randomFloat(rng), true)
	}
}

// randomFloat returns a number string of varied form: integers, decimals with up to 25
// digits, exponents across the long double range, hex floats.
func randomFloat(rng *rand.Rand) string {
	var b strings.Builder
	if rng.IntN(3) == 0 {
		b.WriteByte('-')
	}
	if rng.IntN(10) == 0 {
		fmt.Fprintf(&b, "0x%xp%d", rng.Uint64()>>rng.IntN(64), rng.IntN(200)-100)
		return b.String()
	}
	nInt := rng.IntN(12)
	for i := 0; i < nInt; i++ {
		b.WriteByte(byte('0' + rng.IntN(10)))
	}
	if nInt == 0 || rng.IntN(2) == 0 {
		b.WriteByte('.')
		nFrac := 1 + rng.IntN(20)
		for i := 0; i < nFrac; i++ {
			b.WriteByte(byte('0' + rng.IntN(10)))
		}
	}
	switch rng.IntN(6) {
	case 0:
		fmt.Fprintf(&b, "e%d", rng.IntN(40)-20)
	case 1:
		fmt.Fprintf(&b, "e%d", rng.IntN(9900)-4950)
	}
	return b.String()
}

func TestNumbers_formatLongDouble(t *testing.T) {
	for in, want := range map[string]string{
		"0.1": "0.1", "-0": "0", "1e-18": "0", "-1e-18": "0", "5000": "5000", "10.50": "10.5",
		"0.000003814697265625": "0.00000381469726562", "inf": "inf", "-inf": "-inf",
	} {
		f, ok := parseLongDouble([]byte(in))
		if !ok {
			t.Fatalf("parse %q failed", in)
		}
		if got := string(formatLongDouble(f)); got != want {
			t.Errorf("format(%q) = %q, want %q", in, got, want)
		}
	}
	a, _ := parseLongDouble([]byte("0.1"))
	b, _ := parseLongDouble([]byte("0.2"))
	s, ok := addLongDouble(a, b)
	if !ok || string(formatLongDouble(s)) != "0.3" {
		t.Errorf("0.1+0.2 = %q, %v", formatLongDouble(s), ok)
	}
}
