package command

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"hotswap/proxy/command/internal/cmdinfo"
)

// keyCorpus is realistic and invalid invocations, one argument per space (two spaces make
// an empty argument). TestInfo_KeyIndexes_MatchesGetKeys checks each against the live
// server's COMMAND GETKEYS; FuzzKeyIndexes uses them as seeds.
var keyCorpus = []string{
	// single keys and ranges
	"GET k", "SET k v", "SET k v GET", "SET k v EX 10 NX", "GETEX k PERSIST", "INCR counter",
	"HSET user:1 name alice age 3", "HGETALL user:1", "SADD s a b c", "ZADD z 1 a",
	"EXPIRE k 10", "TTL k", "TYPE k", "STRLEN k", "APPEND k v", "SETRANGE k 0 v",
	"BITFIELD k GET u8 0", "BITFIELD k SET u8 0 1", "BITFIELD_RO k GET u8 0",
	"MGET a b c", "MSET a 1 b 2", "MSET a 1 b", "MSETNX a 1 b 2", "DEL a b c", "UNLINK a",
	"EXISTS a b a", "TOUCH a b", "WATCH a b",
	// two-key commands
	"RENAME a b", "RENAMENX a b", "COPY a b", "COPY a b DB 1 REPLACE", "SMOVE a b m",
	"LMOVE a b LEFT RIGHT", "BLMOVE a b LEFT RIGHT 0", "RPOPLPUSH a b", "BRPOPLPUSH a b 0",
	"PFMERGE d a b", "PFCOUNT a b", "BITOP AND d a b c", "BITOP NOT d a",
	"SINTERSTORE d a b", "SUNION a b", "GEOSEARCHSTORE d src FROMMEMBER m BYRADIUS 1 km",
	"BLPOP a b 0", "BZPOPMIN a b 0",
	// numkeys
	"EVAL s 0", "EVAL s 2 a b", "EVAL s 2 a b argv1", "EVAL s 3 a b", "EVAL s -1 a",
	"EVAL s 2abc a b", "EVAL s 02 a b", "EVAL s +2 a b", "EVAL s 4294967297 a b",
	"EVAL s 99999999999999999999 a b", "EVAL s x a", "EVAL_RO s 1 a",
	"EVALSHA abc 1 k", "EVALSHA_RO abc 2 a b",
	"FCALL f 0", "FCALL f 1 k arg", "FCALL_RO f 2 a b", "FCALL f 3 a",
	"ZUNIONSTORE d 2 a b", "ZUNIONSTORE d 2 a b WEIGHTS 1 2", "ZUNIONSTORE d 0 a",
	"ZUNIONSTORE d 2abc a b", "ZINTERSTORE d 1 a", "ZDIFFSTORE d 3 a b",
	"ZUNION 2 a b", "ZINTER 2 a b WITHSCORES", "ZDIFF 1 a", "ZINTERCARD 2 a b LIMIT 3",
	"SINTERCARD 2 a b", "SINTERCARD 3 a b", "SINTERCARD 1 a LIMIT 5",
	"LMPOP 2 a b LEFT", "LMPOP 2 a b LEFT COUNT 3", "LMPOP 0 a LEFT", "BLMPOP 0 2 a b LEFT",
	"BLMPOP 0 1 a RIGHT COUNT 2", "ZMPOP 1 z MIN", "BZMPOP 1 2 a b MAX",
	// keywords
	"XREAD COUNT 2 STREAMS a b 0 0", "XREAD STREAMS a 0", "XREAD BLOCK 0 STREAMS a b c 0 0 0",
	"XREAD STREAMS a b 0", "XREAD COUNT 2 STREAMS", "XREAD COUNT 2 a b", "XREAD STREAMS streams 0",
	"XREADGROUP GROUP g c STREAMS a b > >", "XREADGROUP GROUP g c COUNT 1 NOACK STREAMS a >",
	"XREADGROUP GROUP STREAMS c STREAMS a >",
	"GEORADIUS k 1 2 3 m", "GEORADIUS k 1 2 3 m STORE d", "GEORADIUS k 1 2 3 m STOREDIST d",
	"GEORADIUS k 1 2 3 m STOREDIST d STORE e", "GEORADIUS k 1 2 3 m STORE",
	"GEORADIUSBYMEMBER k m 3 km STORE d", "GEORADIUS_RO k 1 2 3 m",
	// getkeys procedures
	"SORT k", "SORT k STORE d", "SORT k BY w:* GET o:* STORE d", "SORT k STORE d STORE e",
	"SORT k LIMIT 0 10 STORE d", "SORT k LIMIT STORE d x", "SORT k STORE", "SORT k GET STORE d",
	"SORT_RO k BY w:*", "SORT_RO k STORE d",
	"MIGRATE h 6379 k 0 5000", "MIGRATE h 6379  0 5000 KEYS a b", "MIGRATE h 6379  0 5000 COPY REPLACE KEYS a b c",
	"MIGRATE h 6379 k 0 5000 KEYS a b", "MIGRATE h 6379  0 5000 KEYS", "MIGRATE h KEYS k 0 5000 COPY",
	"MIGRATE h 6379  0 5000 AUTH p KEYS a", "MIGRATE h 6379  0 5000 AUTH keys KEYS a b",
	"MIGRATE h 6379  0 5000 AUTH2 keys keys KEYS a", "MIGRATE h 6379  0 5000 AUTH2 u keys",
	// containers
	"OBJECT ENCODING k", "OBJECT FREQ k", "OBJECT HELP", "OBJECT NOSUCH k", "MEMORY USAGE k",
	"MEMORY USAGE k SAMPLES 5", "XINFO STREAM k", "XINFO STREAM k FULL", "XINFO GROUPS k",
	"XINFO CONSUMERS k g", "CONFIG GET maxmemory", "CLIENT LIST", "SCRIPT LOAD s",
	"FUNCTION LIST", "CLUSTER KEYSLOT k", "COMMAND GETKEYS get k",
	// no keys, and arity errors
	"SUBSCRIBE a b", "PUBLISH ch msg", "SPUBLISH ch msg", "SSUBSCRIBE ch", "PING", "INFO",
	"DBSIZE", "KEYS *", "SCAN 0", "FLUSHALL", "MULTI", "EXEC",
	"GET", "GET a b", "MGET", "EVAL s", "RENAME a", "nosuchcommand k",
}

func TestInfo_KeyIndexes_MatchesGetKeys(t *testing.T) {
	c := MustDialRedis(t)
	if len(keyCorpus) < 60 {
		t.Fatalf("corpus has %d invocations", len(keyCorpus))
	}
	for _, s := range keyCorpus {
		checkAgainstGetKeys(t, c, split(s))
	}
	// Arguments with NUL bytes: Redis compares keywords as C strings.
	checkAgainstGetKeys(t, c, [][]byte{[]byte("SORT"), []byte("k"), []byte("STORE\x00x"), []byte("d")})
	checkAgainstGetKeys(t, c, [][]byte{[]byte("XREAD"), []byte("STREAMS\x00"), []byte("a"), []byte("0")})
	checkAgainstGetKeys(t, c, [][]byte{[]byte("EVAL"), []byte("s"), []byte("1\x00"), []byte("a")})
}

func checkAgainstGetKeys(tb testing.TB, c *cmdinfo.Conn, args [][]byte) {
	tb.Helper()
	info := Lookup(args)
	idx, err := info.GetKeys(args, nil)
	got := strs(args, idx)
	if len(args) < 2 {
		// COMMAND GETKEYS needs the command and at least one argument; with none, no
		// command has a key to find.
		if err == nil || len(idx) != 0 {
			tb.Errorf("%q: GetKeys = %v, %v; want no keys and an error", args, idx, err)
		}
		return
	}
	if bytes.IndexByte(args[0], 0) >= 0 || bytes.IndexByte(args[1], 0) >= 0 {
		// Redis looks names up in a dict hashed over all their bytes (with a per-process
		// random seed) but compared as C strings, so "COPY\x00x" finds COPY only when the
		// hashes happen to collide.
		return
	}
	want, redisErr := MustGetKeys(tb, c, args)
	switch {
	case redisErr != nil:
		if len(idx) != 0 {
			tb.Errorf("%q: KeyIndexes = %q, COMMAND GETKEYS: %v", args, got, redisErr)
		}
		if err == nil {
			tb.Errorf("%q: GetKeys succeeded, COMMAND GETKEYS: %v", args, redisErr)
		} else if !sameError(err, redisErr) && !(info != nil && info.Subcommands != nil && errors.Is(err, ErrNoKeyArguments)) {
			tb.Errorf("%q: GetKeys: %v, COMMAND GETKEYS: %v", args, err, redisErr)
		}
	case err != nil:
		tb.Errorf("%q: GetKeys: %v, COMMAND GETKEYS = %q", args, err, want)
	case !slices.Equal(got, want):
		tb.Errorf("%q: KeyIndexes = %v %q, COMMAND GETKEYS = %q", args, idx, got, want)
	}
}

// sameError reports whether err is the sentinel for Redis' error reply.
func sameError(err, redisErr error) bool {
	msg := strings.TrimPrefix(redisErr.Error(), "ERR ")
	return strings.EqualFold(strings.TrimPrefix(err.Error(), "command: "), msg)
}

func TestInfo_KeyIndexes(t *testing.T) {
	tests := []struct {
		args string
		want []int
	}{
		{"GET k", []int{1}},
		{"MSET a 1 b 2", []int{1, 3}},
		{"EVAL s 2 a b c", []int{3, 4}},
		{"EVAL s 3 a b", nil},
		{"EVAL s -1 a", nil},
		{"EVAL s 2abc a b", []int{3, 4}}, // the atoi fallback, as in Redis
		{"XREAD COUNT 2 STREAMS a b 0 0", []int{4, 5}},
		{"SORT k BY w GET o STORE d", []int{1, 7}},
		{"MIGRATE h 6379  0 5000 KEYS a b", []int{7, 8}},
		{"ZUNIONSTORE d 2 a b", []int{1, 3, 4}},
		{"ZUNIONSTORE d 2abc a b", []int{3, 4, 1}}, // the fallback lists the destination last
		{"GEORADIUS k 1 2 3 m STOREDIST d STORE e", []int{1, 9, 7}},
		{"OBJECT ENCODING k", []int{2}},
		{"SUBSCRIBE a", nil},
	}
	for _, tt := range tests {
		args := split(tt.args)
		got := Lookup(args).KeyIndexes(args, nil)
		if !slices.Equal(got, tt.want) {
			t.Errorf("KeyIndexes(%q) = %v, want %v", tt.args, got, tt.want)
		}
	}
	dst := []int{42}
	args := split("MGET a b")
	if got := Lookup(args).KeyIndexes(args, dst); !slices.Equal(got, []int{42, 1, 2}) {
		t.Errorf("KeyIndexes appends: got %v", got)
	}
	if got := Lookup(split("MGET")).KeyIndexes(split("MGET"), dst); !slices.Equal(got, []int{42}) {
		t.Errorf("KeyIndexes on error: got %v", got)
	}
	var nilInfo *Info
	if got, err := nilInfo.GetKeys(args, nil); got != nil || !errors.Is(err, ErrUnknownCommand) {
		t.Errorf("nil Info: %v, %v", got, err)
	}
}

func TestKeyArgs(t *testing.T) {
	keys, err := KeyArgs(split("XREADGROUP GROUP g c STREAMS a b > >"))
	if err != nil || len(keys) != 2 || string(keys[0]) != "a" || string(keys[1]) != "b" {
		t.Errorf("KeyArgs = %q, %v", keys, err)
	}
	if _, err := KeyArgs(split("PING")); !errors.Is(err, ErrNoKeyArguments) {
		t.Errorf("KeyArgs(PING): %v", err)
	}
	if _, err := KeyArgs(split("nosuch k")); !errors.Is(err, ErrUnknownCommand) {
		t.Errorf("KeyArgs(nosuch): %v", err)
	}
	if _, err := KeyArgs(split("GET")); !errors.Is(err, ErrArity) {
		t.Errorf("KeyArgs(GET): %v", err)
	}
	if _, err := KeyArgs(split("XREAD COUNT 1 a 0")); !errors.Is(err, ErrInvalidArguments) {
		t.Errorf("KeyArgs(XREAD without STREAMS): %v", err)
	}
}

func TestString2ll(t *testing.T) {
	ok := map[string]int64{"0": 0, "1": 1, "-1": -1, "42": 42, "9223372036854775807": 1<<63 - 1, "-9223372036854775808": -1 << 63}
	for s, want := range ok {
		if got, valid := ParseInt([]byte(s)); !valid || got != want {
			t.Errorf("ParseInt(%q) = %d, %v", s, got, valid)
		}
	}
	for _, s := range []string{"", "-", "+1", "01", "-0", " 1", "1 ", "1a", "9223372036854775808", "-9223372036854775809", "1\x00"} {
		if got, valid := ParseInt([]byte(s)); valid {
			t.Errorf("ParseInt(%q) = %d, want invalid", s, got)
		}
	}
}

func TestAtoi(t *testing.T) {
	tests := map[string]int{
		"": 0, "x": 0, "2": 2, "2abc": 2, " \t2": 2, "+2": 2, "-2": -2, "02": 2, "2\x003": 2,
		"4294967297": 1, "2147483648": -2147483648, "99999999999999999999": -1,
		"-99999999999999999999": 0, "9223372036854775807": -1,
	}
	for s, want := range tests {
		if got := atoi([]byte(s)); got != want {
			t.Errorf("atoi(%q) = %d, want %d", s, got, want)
		}
	}
}

// TestInfo_KeyIndexes_RandomMatchesGetKeys builds random invocations of every command
// and subcommand that has keys, from a vocabulary of the keywords and numbers key
// extraction looks at, and compares KeyIndexes with COMMAND GETKEYS.
func TestInfo_KeyIndexes_RandomMatchesGetKeys(t *testing.T) {
	c := MustDialRedis(t)
	vocab := []string{
		"k", "a", "b", "", "0", "1", "2", "3", "-1", "2abc", "02", " 1", "4294967297",
		"STREAMS", "streams", "KEYS", "keys", "STORE", "store", "STOREDIST", "GET", "BY",
		"LIMIT", "COUNT", "BLOCK", "GROUP", "NOACK", "AUTH", "AUTH2", "COPY", "WEIGHTS",
		"LEFT", "MIN", "DB", "ENCODING", "STREAM",
	}
	rng := rand.New(rand.NewPCG(1, 2))
	n := 0
	for _, name := range Names() {
		prefix := strings.SplitN(name, "|", 2)
		var args0 [][]byte
		for _, p := range prefix {
			args0 = append(args0, []byte(strings.ToUpper(p)))
		}
		if !Lookup(args0).HasKeys() {
			continue
		}
		for range 40 {
			args := slices.Clone(args0)
			for range rng.IntN(9) {
				args = append(args, []byte(vocab[rng.IntN(len(vocab))]))
			}
			checkAgainstGetKeys(t, c, args)
			n++
		}
	}
	t.Logf("%d invocations compared", n)
}
