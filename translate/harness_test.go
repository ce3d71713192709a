package translate

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"hotswap/internal/testutil"
	"hotswap/proxy/command"
	"hotswap/resp"
)

// memDB plays the engine's part for handler tests: it holds values in memory, loads the
// keys a command names into a Keyspace, runs the handler and keeps what it wrote.
type memDB struct {
	data     map[string]*Value
	handlers map[string]Handler
	rng      *rand.Rand
	now      func() int64
	maxValue int64 // Keyspace.SetMaxValue; 0 in the comparisons with Redis
}

func newMemDB() *memDB {
	return &memDB{
		data:     map[string]*Value{},
		handlers: Handlers(),
		rng:      rand.New(rand.NewPCG(1, 2)),
		now:      func() int64 { return time.Now().UnixMilli() },
	}
}

// Do runs one command and returns its raw reply in the given protocol version.
func (m *memDB) Do(proto int, args ...[]byte) []byte {
	ks := NewKeyspace(m.now(), m.rng)
	ks.SetMaxValue(m.maxValue)
	info := command.Lookup(args)
	if info != nil && info.ArityOK(len(args)) {
		for _, i := range info.KeyIndexes(args, nil) {
			k := args[i]
			ks.Add(k, m.data[string(k)].Clone(), 1, m.data[string(k)] != nil)
		}
	}
	r := NewReply(proto)
	if !Run(ks, r, m.handlers, args) {
		return []byte("-hotswap: no handler for " + string(args[0]) + "\r\n")
	}
	for _, e := range ks.Entries() {
		if e.Dirty {
			if e.Cur == nil {
				delete(m.data, string(e.Key))
			} else {
				m.data[string(e.Key)] = e.Cur.Clone()
			}
		}
	}
	return r.Bytes()
}

// differ sends the same commands to a real redis-server and to a memDB and compares
// the replies byte for byte.
type differ struct {
	tb    testing.TB
	redis *testutil.RawClient
	mem   *memDB
	proto int
}

// mustDiffer starts a redis-server (once per test) and returns a differ speaking proto.
func mustDiffer(tb testing.TB, proto int) *differ {
	tb.Helper()
	srv := testutil.MustStartRedis(tb)
	c := testutil.MustDialRaw(tb, srv.Addr)
	if proto == 3 {
		c.Do("HELLO", "3")
	}
	return &differ{tb: tb, redis: c, mem: newMemDB(), proto: proto}
}

// both runs args on Redis and on the model and returns both raw replies.
func (d *differ) both(args ...string) (fromRedis, fromModel []byte) {
	d.tb.Helper()
	bargs := make([][]byte, len(args))
	for i, a := range args {
		bargs[i] = []byte(a)
	}
	return d.redis.DoBytes(bargs...), d.mem.Do(d.proto, bargs...)
}

// same runs args on both and fails the test unless the replies are byte-identical.
func (d *differ) same(args ...string) []byte {
	d.tb.Helper()
	a, b := d.both(args...)
	if !bytes.Equal(a, b) {
		d.tb.Errorf("RESP%d %s:\n redis: %q\n model: %q", d.proto, quote(args), a, b)
	}
	return a
}

// sameUnordered is same for replies whose element order Redis does not define
// (SMEMBERS, HGETALL, ...): the elements of the top-level aggregate are compared as a
// multiset (pairs for maps and for RESP2 field/value arrays when pairs is true).
func (d *differ) sameUnordered(pairs bool, args ...string) {
	d.tb.Helper()
	a, b := d.both(args...)
	na, nb := normalise(d.tb, a, pairs), normalise(d.tb, b, pairs)
	if na != nb {
		d.tb.Errorf("RESP%d %s (unordered):\n redis: %q\n model: %q", d.proto, quote(args), a, b)
	}
}

func normalise(tb testing.TB, raw []byte, pairs bool) string {
	v, _, err := resp.Parse(raw)
	if err != nil {
		tb.Fatalf("parse %q: %v", raw, err)
	}
	if len(v.Elems) == 0 {
		return string(raw)
	}
	var parts []string
	step := 1
	if pairs && v.Type != '%' {
		step = 2
	}
	for i := 0; i+step <= len(v.Elems); i += step {
		var s []byte
		for j := 0; j < step; j++ {
			s = resp.AppendValue(s, v.Elems[i+j])
		}
		parts = append(parts, string(s))
	}
	sortStrings(parts)
	return fmt.Sprintf("%c%d:%s", v.Type, len(v.Elems), strings.Join(parts, "|"))
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

func quote(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = fmt.Sprintf("%q", a)
	}
	return strings.Join(q, " ")
}

func TestHarness_unknownHandler(t *testing.T) {
	m := newMemDB()
	if got := m.Do(2, []byte("NOSUCHCOMMAND")); !bytes.HasPrefix(got, []byte("-hotswap: no handler")) {
		t.Fatalf("got %q", got)
	}
}
