package proxy_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"hotswap/internal/testutil"
	"hotswap/proxy"
	"hotswap/proxy/upstream"
	"hotswap/resp"
)

// env is one hotswap in front of its own redis-server, plus a second redis-server
// that the same commands go to directly: the reference for differential tests.
type env struct {
	backend *testutil.Redis // behind hotswap
	direct  *testutil.Redis // reference
	srv     *proxy.Server
	addr    string // hotswap's address
}

type envOption func(*proxy.Config)

func withUpstream(f func(*upstream.Options)) envOption {
	return func(c *proxy.Config) { f(&c.Upstream) }
}

// mustStart starts two redis-servers (with the same extra options) and hotswap in
// front of the first.
func mustStart(tb testing.TB, redisArgs []string, opts ...envOption) *env {
	tb.Helper()
	e := &env{
		backend: testutil.MustStartRedis(tb, redisArgs...),
		direct:  testutil.MustStartRedis(tb, redisArgs...),
	}
	e.srv = mustStartProxy(tb, e.backend.Addr, opts...)
	e.addr = e.srv.Addr().String()
	return e
}

func mustStartProxy(tb testing.TB, redisAddr string, opts ...envOption) *proxy.Server {
	tb.Helper()
	cfg := proxy.Config{
		Upstream: upstream.Options{Addr: redisAddr, ReadTimeout: 5 * time.Second},
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	for _, o := range opts {
		o(&cfg)
	}
	srv := proxy.New(cfg)
	if err := srv.Open(context.Background(), "127.0.0.1:0"); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Close(ctx)
	})
	return srv
}

// rawClient speaks RESP byte for byte, so replies can be compared exactly.
type rawClient struct {
	tb  testing.TB
	c   net.Conn
	buf []byte
	sc  resp.Scanner
}

func mustDialRaw(tb testing.TB, addr string) *rawClient {
	tb.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		tb.Fatalf("dial %s: %v", addr, err)
	}
	tb.Cleanup(func() { c.Close() })
	return &rawClient{tb: tb, c: c}
}

// Do sends one command and returns its raw reply.
func (r *rawClient) Do(args ...string) []byte {
	r.tb.Helper()
	r.Send(resp.AppendCommandString(nil, args...))
	return r.Read()
}

// DoBytes is Do with binary arguments.
func (r *rawClient) DoBytes(args ...[]byte) []byte {
	r.tb.Helper()
	r.Send(resp.AppendCommand(nil, args...))
	return r.Read()
}

func (r *rawClient) Send(b []byte) {
	r.tb.Helper()
	_ = r.c.SetWriteDeadline(time.Now().Add(30 * time.Second))
	if _, err := r.c.Write(b); err != nil {
		r.tb.Fatalf("write: %v", err)
	}
}

// Read returns the next raw reply.
func (r *rawClient) Read() []byte {
	r.tb.Helper()
	b, err := r.ReadTimeout(30 * time.Second)
	if err != nil {
		r.tb.Fatalf("read: %v", err)
	}
	return b
}

// ReadTimeout returns the next raw reply or an error (io.EOF when the server closed).
func (r *rawClient) ReadTimeout(d time.Duration) ([]byte, error) {
	_ = r.c.SetReadDeadline(time.Now().Add(d))
	tmp := make([]byte, 64<<10)
	for {
		if len(r.buf) > 0 {
			n, err := r.sc.Scan(r.buf)
			if err != nil {
				return nil, err
			}
			if n > 0 {
				out := append([]byte(nil), r.buf[:n]...)
				r.buf = r.buf[n:]
				r.sc.Reset()
				return out, nil
			}
		}
		k, err := r.c.Read(tmp)
		if k > 0 {
			r.buf = append(r.buf, tmp[:k]...)
			continue
		}
		if err != nil {
			return nil, err
		}
	}
}

// goRedis returns a go-redis client for addr speaking RESP2 (as the comparison needs).
func goRedis(tb testing.TB, addr string, opt ...func(*redis.Options)) *redis.Client {
	o := &redis.Options{Addr: addr, Protocol: 2, DisableIdentity: true, MaxRetries: -1}
	for _, f := range opt {
		f(o)
	}
	c := redis.NewClient(o)
	tb.Cleanup(func() { c.Close() })
	return c
}

// step is one command of a differential script. Replies must be byte-identical
// unless norm rewrites them first (for values that differ by nature: ids, times).
type step struct {
	args []string
	norm func([]byte) []byte
}

func cmd(args ...string) step { return step{args: args} }

// mustSame runs script on a fresh connection to hotswap and one to the reference
// Redis, and fails on the first reply that differs.
func (e *env) mustSame(tb testing.TB, script []step) {
	tb.Helper()
	hs := mustDialRaw(tb, e.addr)
	rd := mustDialRaw(tb, e.direct.Addr)
	for i, s := range script {
		got := hs.Do(s.args...)
		want := rd.Do(s.args...)
		if s.norm != nil {
			got, want = s.norm(got), s.norm(want)
		}
		if !bytes.Equal(got, want) {
			tb.Fatalf("step %d %s:\n hotswap: %q\n   redis: %q", i, quoteArgs(s.args), got, want)
		}
	}
}

func quoteArgs(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = fmt.Sprintf("%q", a)
	}
	return strings.Join(q, " ")
}

// eventually retries f until it returns nil or the timeout passes.
func eventually(tb testing.TB, timeout time.Duration, f func() error) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		if err = f(); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	tb.Fatalf("not within %v: %v", timeout, err)
}

// backendClients lists the backend's clients (CLIENT LIST lines), except the asker.
func backendClients(tb testing.TB, addr string) []string {
	tb.Helper()
	r := mustDialRaw(tb, addr)
	defer r.c.Close()
	v, _, err := resp.Parse(r.Do("CLIENT", "LIST"))
	if err != nil {
		tb.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(string(v.Str)), "\n") {
		if !strings.Contains(line, "cmd=client|list") {
			out = append(out, line)
		}
	}
	return out
}
