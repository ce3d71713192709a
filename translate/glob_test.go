package translate

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"hotswap/internal/testutil"
	"hotswap/resp"
)

// globKeys are the keys the glob tests create in Redis: pattern metacharacters as
// literals, NUL, bytes >= 0x80 (signed chars in Redis' ranges), the empty key, and
// random short strings from the same small alphabet as the random patterns.
func globKeys(rng *rand.Rand) []string {
	keys := []string{
		"", "a", "b", "ab", "ba", "aa", "bb", "aab", "abb", "abab", "abc", "hello", "hallo",
		"hxllo", "heeeello", "hillo", "hbllo", "hllo", "x", "*", "?", "[", "]", "^", "-", "\\", "\\\\", "a*b",
		"a?b", "a[b", "a]b", "a^b", "a-b", "a\\b", "[a]", "[]", "[^a]", "\x00", "a\x00b",
		"\x00a", "\xff", "\x80", "\x7f", "a\xff", "\xe9t\xe9", "é", "0", "1", "9", ":",
		"user:1", "user:12", "user:1:teams", "A", "B", "aA", "Ab",
	}
	alphabet := []byte("ab*?[]^-\\\x00\xff")
	for len(keys) < 400 {
		n := rng.IntN(6)
		b := make([]byte, n)
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		keys = append(keys, string(b))
	}
	slices.Sort(keys)
	return slices.Compact(keys)
}

// globPatterns is the table of hand-picked patterns; random ones are added to it.
var globPatterns = []string{
	"", "*", "**", "***", "?", "??", "a", "a*", "*a", "*a*", "a*b", "a?b", "*b*a*", "h?llo",
	"h*llo", "h[ae]llo", "h[^e]llo", "h[a-b]llo", "h[b-a]llo", "[a-z]*", "[z-a]*",
	"[a-]", "[-a]", "[a-", "[", "[^", "[^]", "[]", "[]]", "[]a]", "[\\]]", "[\\]", "[\\",
	"\\", "\\\\", "\\*", "\\?", "\\[", "a\\", "a\\*", "\\a", "[a-\\]", "[\\a-b]", "[a\\-b]",
	"[\x00]", "[\x00-\xff]", "[\xff-\x00]", "[a-\xff]", "[\x80-\xff]", "[\x7f-\x80]",
	"\x00*", "*\x00*", "a\x00b", "[!a]", "[^ab]*", "[ab", "[a-b", "[^a-b", "*[", "*[a",
	"?*", "*?", "*?*", "[*]", "[?]", "[[]", "[^^]", "[-]", "[--]", "[---]", "[a-b-c]",
	"user:*", "user:?", "user:*:teams", "user:[0-9]*", "*:*", "\xe9*", "*\xe9", "[\xe9]*",
	"a**b", "*a**b*", "[ab]*[ab]", "\\*\\?", "[\\^a]",
}

// TestGlob_matchesRedisScan compares globMatch (through scanOpts, as the SCAN family
// uses it) with the keys Redis' SCAN MATCH returns, for the table and random patterns.
func TestGlob_matchesRedisScan(t *testing.T) {
	srv := testutil.MustStartRedis(t)
	c := testutil.MustDialRaw(t, srv.Addr)
	rng := rand.New(rand.NewPCG(7, 11))
	keys := globKeys(rng)

	mset := [][]byte{[]byte("MSET")}
	for _, k := range keys {
		mset = append(mset, []byte(k), []byte("v"))
	}
	if got := c.DoBytes(mset...); string(got) != "+OK\r\n" {
		t.Fatalf("MSET: %q", got)
	}

	patterns := slices.Clone(globPatterns)
	alphabet := []byte("ab*?[]^-\\\xff")
	for range 3000 {
		n := rng.IntN(8)
		b := make([]byte, n)
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		patterns = append(patterns, string(b))
	}

	// Pipeline one SCAN per pattern; the database is small enough for one page each.
	var out []byte
	for _, p := range patterns {
		out = resp.AppendCommandString(out, "SCAN", "0", "MATCH", p, "COUNT", "1000")
	}
	c.Send(out)
	for _, p := range patterns {
		got := globScanAll(t, c, c.Read(), p)
		opts, errMsg := parseScanOpts([][]byte{[]byte("MATCH"), []byte(p)}, false)
		if errMsg != "" {
			t.Fatalf("parseScanOpts(MATCH %q): %s", p, errMsg)
		}
		var want []string
		for _, k := range keys {
			if opts.matches([]byte(k)) {
				want = append(want, k)
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("MATCH %q:\n redis:    %q\n globMatch: %q", p, got, want)
		}
	}
}

// globScanAll returns the sorted keys of a SCAN reply, continuing the scan (pattern p) when
// Redis did not finish in one page.
func globScanAll(t *testing.T, c *testutil.RawClient, raw []byte, p string) []string {
	t.Helper()
	var keys []string
	for {
		v, _, err := resp.Parse(raw)
		if err != nil || v.Type != '*' || len(v.Elems) != 2 {
			t.Fatalf("SCAN MATCH %q: reply %q (%v)", p, raw, err)
		}
		for _, e := range v.Elems[1].Elems {
			keys = append(keys, string(e.Str))
		}
		cursor := string(v.Elems[0].Str)
		if cursor == "0" {
			break
		}
		raw = c.Do("SCAN", cursor, "MATCH", p, "COUNT", "1000")
	}
	slices.Sort(keys)
	return keys
}

// TestGlob_nestingGuard checks Redis' limit on '*' nesting (a pattern whose '*'s recurse
// more than 1000 deep never matches) against Redis, around the limit.
func TestGlob_nestingGuard(t *testing.T) {
	srv := testutil.MustStartRedis(t)
	c := testutil.MustDialRaw(t, srv.Addr)
	key := strings.Repeat("a", 1500)
	c.Do("SET", key, "v")
	for _, k := range []int{10, 998, 999, 1000, 1001, 1002, 1100} {
		p := strings.Repeat("*a", k)
		raw := c.Do("SCAN", "0", "MATCH", p, "COUNT", "1000")
		redisMatch := len(globScanAll(t, c, raw, p)) == 1
		if got := globMatch([]byte(p), []byte(key)); got != redisMatch {
			t.Errorf("(*a)x%d: redis %v, globMatch %v", k, redisMatch, got)
		}
	}
	// Deep but not nested: the limit counts recursion, not pattern length.
	long := strings.Repeat("?", 1500)
	raw := c.Do("SCAN", "0", "MATCH", long, "COUNT", "1000")
	if redisMatch, got := len(globScanAll(t, c, raw, long)) == 1, globMatch([]byte(long), []byte(key)); got != redisMatch {
		t.Errorf("?x1500: redis %v, globMatch %v", redisMatch, got)
	}
}

// TestGlob_polynomial checks that patterns which are exponential for naive backtracking
// finish quickly, as they do in Redis 7.0 (skipLongerMatches).
func TestGlob_polynomial(t *testing.T) {
	s := []byte(strings.Repeat("a", 60))
	p := []byte(strings.Repeat("*a", 20) + "*b")
	done := make(chan bool, 1)
	go func() { done <- globMatch(p, s) }()
	select {
	case matched := <-done:
		if matched {
			t.Fatal("matched")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("globMatch still running after 5s: exponential backtracking")
	}
}

// TestGlob_table pins a few results independently of Redis, so a regression shows
// without a redis-server.
func TestGlob_table(t *testing.T) {
	for _, tc := range []struct {
		p, s string
		want bool
	}{
		{"h?llo", "hello", true},
		{"h*llo", "hllo", true},
		{"h[^e]llo", "hello", false},
		{"h[a-b]llo", "hallo", true},
		{"h[b-a]llo", "hbllo", true},
		{"\\*", "*", true},
		{"\\*", "a", false},
		{"[a-", "a", true},
		{"[a-", "-", true},
		{"[", "x", false},
		{"[^", "x", true},
		{"*", "", false},
		{"", "", true},
		// Signed chars: "[a-\xff]" is the range -1..'a'.
		{"[a-\xff]", "\xff", true},
		{"[a-\xff]", "\x00", true},
		{"[a-\xff]", "\x80", false},
		{"[a-\xff]", "b", false},
		{"[\x80-\xff]", "\x90", true},
	} {
		if got := globMatch([]byte(tc.p), []byte(tc.s)); got != tc.want {
			t.Errorf("globMatch(%q, %q) = %v, want %v", tc.p, tc.s, got, tc.want)
		}
	}
}
