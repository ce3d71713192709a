package proxy_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"hotswap/internal/testutil"
	"hotswap/proxy"
	"hotswap/proxy/upstream"
	"hotswap/resp"
)

// A client that sends 10,000 commands before reading gets 10,000 replies, in order.
func TestServer_Pipeline10k(t *testing.T) {
	e := mustStart(t, nil)
	r := mustDialRaw(t, e.addr)
	const n = 10000
	var req []byte
	for i := 0; i < n; i++ {
		switch i % 3 {
		case 0:
			req = resp.AppendCommandString(req, "INCR", "counter")
		case 1:
			req = resp.AppendCommandString(req, "SET", "k"+strconv.Itoa(i), strconv.Itoa(i))
		case 2:
			req = resp.AppendCommandString(req, "GET", "k"+strconv.Itoa(i-1))
		}
	}
	go r.Send(req) // the replies must be read while the requests are written
	incr := 0
	for i := 0; i < n; i++ {
		got := string(r.Read())
		var want string
		switch i % 3 {
		case 0:
			incr++
			want = ":" + strconv.Itoa(incr) + "\r\n"
		case 1:
			want = "+OK\r\n"
		case 2:
			v := strconv.Itoa(i - 1)
			want = "$" + strconv.Itoa(len(v)) + "\r\n" + v + "\r\n"
		}
		if got != want {
			t.Fatalf("reply %d = %q, want %q", i, got, want)
		}
	}
}

// Many clients pipelining at once share upstream connections without mixing replies.
func TestServer_ConcurrentClients(t *testing.T) {
	e := mustStart(t, nil, withUpstream(func(o *upstream.Options) { o.SharedConns = 2 }))
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for c := 0; c < 32; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			cl := goRedis(t, e.addr)
			for i := 0; i < 200; i++ {
				key := fmt.Sprintf("c%d:%d", c, i)
				pipe := cl.Pipeline()
				pipe.Set(ctx, key, key, 0)
				get := pipe.Get(ctx, key)
				if _, err := pipe.Exec(ctx); err != nil {
					errs <- err
					return
				}
				if get.Val() != key {
					errs <- fmt.Errorf("client %d got %q for %q", c, get.Val(), key)
					return
				}
			}
		}(c)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if st := e.srv.Pool().Stats(); st.Shared > 2 {
		t.Fatalf("shared connections = %d, want at most 2", st.Shared)
	}
}

// go-redis v9 with its defaults (HELLO 3, CLIENT SETINFO) connects and works.
func TestServer_GoRedisDefaults(t *testing.T) {
	e := mustStart(t, nil)
	c := redis.NewClient(&redis.Options{Addr: e.addr})
	defer c.Close()
	ctx := context.Background()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if v, err := c.Get(ctx, "k").Result(); err != nil || v != "v" {
		t.Fatalf("GET = %q, %v", v, err)
	}
	if err := c.HSet(ctx, "h", map[string]any{"a": "1", "b": "2"}).Err(); err != nil {
		t.Fatal(err)
	}
	m, err := c.HGetAll(ctx, "h").Result()
	if err != nil || m["a"] != "1" || m["b"] != "2" {
		t.Fatalf("HGETALL = %v, %v", m, err)
	}
	// With a client name and a password-less AUTH-free connection.
	c2 := redis.NewClient(&redis.Options{Addr: e.addr, ClientName: "svc-a", DB: 3})
	defer c2.Close()
	if err := c2.Set(ctx, "indb3", "x", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if name, err := c2.ClientGetName(ctx).Result(); err != nil || name != "svc-a" {
		t.Fatalf("CLIENT GETNAME = %q, %v", name, err)
	}
	if n, err := c.Exists(ctx, "indb3").Result(); err != nil || n != 0 {
		t.Fatalf("db 0 sees db 3's key: %d, %v", n, err)
	}
}

// SELECT is per client even though clients share upstream connections.
func TestServer_SelectPerClient(t *testing.T) {
	e := mustStart(t, nil)
	a, b := mustDialRaw(t, e.addr), mustDialRaw(t, e.addr)
	a.Do("SELECT", "5")
	for i := 0; i < 50; i++ {
		a.Do("SET", "k", "a"+strconv.Itoa(i))
		b.Do("SET", "k", "b"+strconv.Itoa(i))
		if got := string(a.Do("GET", "k")); !strings.Contains(got, "a"+strconv.Itoa(i)) {
			t.Fatalf("client in db 5 read %q", got)
		}
		if got := string(b.Do("GET", "k")); !strings.Contains(got, "b"+strconv.Itoa(i)) {
			t.Fatalf("client in db 0 read %q", got)
		}
	}
}

// A WATCHed key changed by another client makes EXEC return nil, as in Redis.
func TestServer_WatchConflict(t *testing.T) {
	e := mustStart(t, nil)
	a, b := mustDialRaw(t, e.addr), mustDialRaw(t, e.addr)
	a.Do("SET", "w", "1")
	a.Do("WATCH", "w")
	b.Do("SET", "w", "2")
	a.Do("MULTI")
	a.Do("SET", "w", "3")
	if got := string(a.Do("EXEC")); got != "*-1\r\n" {
		t.Fatalf("EXEC after a conflicting write = %q, want *-1", got)
	}
	if got := string(b.Do("GET", "w")); got != "$1\r\n2\r\n" {
		t.Fatalf("GET = %q", got)
	}
	// go-redis' optimistic transaction helper works the same way.
	c := goRedis(t, e.addr)
	ctx := context.Background()
	err := c.Watch(ctx, func(tx *redis.Tx) error {
		n, err := tx.Get(ctx, "w").Int()
		if err != nil {
			return err
		}
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Set(ctx, "w", n+10, 0)
			return nil
		})
		return err
	}, "w")
	if err != nil {
		t.Fatal(err)
	}
	if got := string(b.Do("GET", "w")); got != "$2\r\n12\r\n" {
		t.Fatalf("GET after Watch/TxPipelined = %q", got)
	}
}

// Pub/sub: subscriptions of every kind, pushed messages, unsubscribes.
func TestServer_PubSub(t *testing.T) {
	e := mustStart(t, nil)
	ctx := context.Background()
	c := goRedis(t, e.addr)
	sub := c.Subscribe(ctx, "news")
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil { // the subscribe confirmation
		t.Fatal(err)
	}
	if err := sub.PSubscribe(ctx, "user.*"); err != nil {
		t.Fatal(err)
	}
	if err := sub.SSubscribe(ctx, "shard1"); err != nil {
		t.Fatal(err)
	}
	pub := goRedis(t, e.addr)
	eventually(t, 5*time.Second, func() error {
		n, err := pub.Publish(ctx, "news", "warmup").Result()
		if err != nil || n != 1 {
			return fmt.Errorf("PUBLISH reached %d subscribers (%v)", n, err)
		}
		return nil
	})
	// PSUBSCRIBE and SSUBSCRIBE are not confirmed yet: publish until each reaches its
	// subscriber (a message published before would be lost, in Redis too).
	eventually(t, 5*time.Second, func() error {
		if n, err := pub.Publish(ctx, "user.42", "hello").Result(); err != nil || n != 1 {
			return fmt.Errorf("PUBLISH user.42 reached %d subscribers (%v)", n, err)
		}
		return nil
	})
	eventually(t, 5*time.Second, func() error {
		if n, err := pub.SPublish(ctx, "shard1", "sharded").Result(); err != nil || n != 1 {
			return fmt.Errorf("SPUBLISH shard1 reached %d subscribers (%v)", n, err)
		}
		return nil
	})
	want := map[string]bool{"news:warmup": false, "user.42:hello": false, "shard1:sharded": false}
	ch := sub.Channel()
	timeout := time.After(5 * time.Second)
	for seen := 0; seen < len(want); {
		select {
		case m := <-ch:
			k := m.Channel + ":" + m.Payload
			if done, ok := want[k]; ok && !done {
				want[k] = true
				seen++
			}
		case <-timeout:
			t.Fatalf("messages not all received: %v", want)
		}
	}
	if err := sub.Unsubscribe(ctx, "news"); err != nil {
		t.Fatal(err)
	}
	if err := sub.PUnsubscribe(ctx, "user.*"); err != nil {
		t.Fatal(err)
	}
	if err := sub.SUnsubscribe(ctx, "shard1"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, func() error {
		if n := pub.Publish(ctx, "news", "after").Val(); n != 0 {
			return fmt.Errorf("still %d subscribers", n)
		}
		return nil
	})
}

// The raw frames of a subscribed connection are the same as Redis', including the
// errors for commands a subscribed client may not send, and PING's pub/sub form.
func TestServer_PubSubFrames(t *testing.T) {
	e := mustStart(t, nil)
	run := func(addr string) []string {
		sub, pub := mustDialRaw(t, addr), mustDialRaw(t, addr)
		var out []string
		out = append(out, string(sub.Do("SUBSCRIBE", "a", "b")))
		out = append(out, string(sub.Read()))
		out = append(out, string(sub.Do("PSUBSCRIBE", "p*")))
		out = append(out, string(sub.Do("GET", "x")))
		out = append(out, string(sub.Do("PING")))
		out = append(out, string(pub.Do("PUBLISH", "a", "m1")))
		out = append(out, string(sub.Read()))
		out = append(out, string(pub.Do("PUBLISH", "px", "m2")))
		out = append(out, string(sub.Read()))
		out = append(out, string(sub.Do("UNSUBSCRIBE", "a", "b")))
		out = append(out, string(sub.Read()))
		out = append(out, string(sub.Do("PUNSUBSCRIBE")))
		out = append(out, string(sub.Do("PING")))
		out = append(out, string(sub.Do("SET", "after", "1")))
		out = append(out, string(sub.Do("GET", "after")))
		return out
	}
	got, want := run(e.addr), run(e.direct.Addr)
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("frame %d: hotswap %q, redis %q", i, got[i], want[i])
		}
	}
}

// A blocked client does not stall others, and each blocking command gets its reply.
func TestServer_BlockingCommands(t *testing.T) {
	e := mustStart(t, nil, withUpstream(func(o *upstream.Options) { o.SharedConns = 1 }))
	cases := []struct {
		block []string
		wake  []string
	}{
		{[]string{"BLPOP", "q1", "0"}, []string{"RPUSH", "q1", "x"}},
		{[]string{"BRPOP", "q2", "q2b", "0"}, []string{"RPUSH", "q2b", "y"}},
		{[]string{"BLMOVE", "q3", "dst", "LEFT", "RIGHT", "0"}, []string{"RPUSH", "q3", "z"}},
		{[]string{"BZPOPMIN", "z1", "0"}, []string{"ZADD", "z1", "1", "m"}},
		{[]string{"XREAD", "BLOCK", "0", "STREAMS", "s1", "$"}, []string{"XADD", "s1", "5-1", "f", "v"}},
		{[]string{"BLMPOP", "0", "1", "q4", "LEFT"}, []string{"RPUSH", "q4", "w"}},
	}
	for _, tc := range cases {
		t.Run(tc.block[0], func(t *testing.T) {
			results := map[string]string{}
			for _, addr := range []string{e.addr, e.direct.Addr} {
				blocked, other := mustDialRaw(t, addr), mustDialRaw(t, addr)
				blocked.Send(resp.AppendCommandString(nil, tc.block...))
				// While it waits, other clients go on.
				start := time.Now()
				for i := 0; i < 200; i++ {
					other.Do("SET", "busy", strconv.Itoa(i))
				}
				if d := time.Since(start); d > 3*time.Second {
					t.Fatalf("200 commands took %v while a client was blocked", d)
				}
				if _, err := blocked.ReadTimeout(100 * time.Millisecond); err == nil {
					t.Fatalf("%s returned before anything was pushed", tc.block[0])
				}
				// The blocked command must really be waiting in Redis before we wake it.
				other.Do(tc.wake...)
				results[addr] = string(blocked.Read())
			}
			if results[e.addr] != results[e.direct.Addr] {
				t.Fatalf("hotswap %q, redis %q", results[e.addr], results[e.direct.Addr])
			}
		})
	}
	// A blocking command with a timeout times out as in Redis.
	r := mustDialRaw(t, e.addr)
	if got := string(r.Do("BLPOP", "empty", "0.1")); got != "*-1\r\n" {
		t.Fatalf("BLPOP timeout = %q", got)
	}
}

// A client that disconnects while blocked gets its upstream connection closed, so
// Redis does not hand the next element to a client that is gone.
func TestServer_DisconnectWhileBlocked(t *testing.T) {
	e := mustStart(t, nil)
	blocked := mustDialRaw(t, e.addr)
	blocked.Send(resp.AppendCommandString(nil, "BLPOP", "jobs", "0"))
	eventually(t, 5*time.Second, func() error {
		for _, l := range backendClients(t, e.backend.Addr) {
			if strings.Contains(l, "cmd=blpop") {
				return nil
			}
		}
		return errors.New("BLPOP not waiting in Redis yet")
	})
	blocked.c.Close()
	eventually(t, 5*time.Second, func() error {
		for _, l := range backendClients(t, e.backend.Addr) {
			if strings.Contains(l, "cmd=blpop") {
				return fmt.Errorf("still blocked upstream: %s", l)
			}
		}
		return nil
	})
	r := mustDialRaw(t, e.addr)
	r.Do("RPUSH", "jobs", "j1")
	if got := string(r.Do("LLEN", "jobs")); got != ":1\r\n" {
		t.Fatalf("LLEN jobs = %q: the job went to a client that left", got)
	}
}

// A client that leaves inside MULTI, with WATCHed keys or subscribed does not leave a
// dirty connection in the pool.
func TestServer_DisconnectReleasesState(t *testing.T) {
	e := mustStart(t, nil)
	for _, script := range [][][]string{
		{{"MULTI"}, {"SET", "leftover", "1"}},
		{{"WATCH", "w"}},
		{{"SUBSCRIBE", "ch"}},
		{{"PSUBSCRIBE", "ch*"}},
	} {
		c := mustDialRaw(t, e.addr)
		for _, args := range script {
			c.Do(args...)
		}
		c.c.Close()
	}
	eventually(t, 5*time.Second, func() error {
		for _, l := range backendClients(t, e.backend.Addr) {
			if strings.Contains(l, "flags=x") || strings.Contains(l, "flags=P") ||
				strings.Contains(l, "sub=1") || strings.Contains(l, "psub=1") || strings.Contains(l, "watch=1") {
				return fmt.Errorf("dirty upstream connection remains: %s", l)
			}
		}
		return nil
	})
	r := mustDialRaw(t, e.addr)
	for i := 0; i < 20; i++ { // whatever connection serves these, none is in MULTI
		if got := string(r.Do("MULTI")); got != "+OK\r\n" {
			t.Fatalf("MULTI = %q", got)
		}
		if got := string(r.Do("EXEC")); got != "*0\r\n" {
			t.Fatalf("EXEC = %q", got)
		}
	}
	if got := string(r.Do("GET", "leftover")); got != "$-1\r\n" {
		t.Fatalf("the abandoned transaction ran: GET leftover = %q", got)
	}
	if st := e.srv.Stats(); st.Clients != 1 {
		t.Fatalf("clients = %d, want 1", st.Clients)
	}
}

// AUTH and HELLO AUTH are checked by Redis; errors come back as Redis words them.
func TestServer_Auth(t *testing.T) {
	e := mustStart(t, []string{"--requirepass", "s3cret"},
		withUpstream(func(o *upstream.Options) { o.Password = "s3cret" }))
	setup := mustDialRaw(t, e.backend.Addr)
	setup.Do("AUTH", "s3cret")
	setup.Do("ACL", "SETUSER", "alice", "on", ">pw", "~*", "&*", "+@all")
	ref := mustDialRaw(t, e.direct.Addr)
	ref.Do("AUTH", "s3cret")
	ref.Do("ACL", "SETUSER", "alice", "on", ">pw", "~*", "&*", "+@all")

	script := []step{
		cmd("AUTH", "wrong"), cmd("AUTH", "alice", "nope"), cmd("AUTH", "alice", "pw"),
		cmd("ACL", "WHOAMI"), cmd("SET", "a", "1"), cmd("AUTH", "s3cret"), cmd("ACL", "WHOAMI"),
		cmd("HELLO", "2", "AUTH", "alice", "bad"), cmd("ACL", "WHOAMI"),
	}
	hs := mustDialRaw(t, e.addr)
	rd := mustDialRaw(t, e.direct.Addr)
	rd.Do("AUTH", "s3cret") // hotswap's clients start with the URL's credentials
	for i, s := range script {
		got, want := hs.Do(s.args...), rd.Do(s.args...)
		if !bytes.Equal(got, want) {
			t.Fatalf("step %d %v: hotswap %q, redis %q", i, s.args, got, want)
		}
	}
	hello := string(hs.Do("HELLO", "2", "AUTH", "alice", "pw"))
	if !strings.Contains(hello, "proto\r\n:2") {
		t.Fatalf("HELLO 2 AUTH = %q", hello)
	}
	if got := string(hs.Do("ACL", "WHOAMI")); got != "$5\r\nalice\r\n" {
		t.Fatalf("after HELLO AUTH, WHOAMI = %q", got)
	}
	// go-redis with a password in its options authenticates through hotswap.
	c := goRedis(t, e.addr, func(o *redis.Options) { o.Username, o.Password = "alice", "pw" })
	if v, err := c.Do(context.Background(), "ACL", "WHOAMI").Text(); err != nil || v != "alice" {
		t.Fatalf("go-redis as alice: %q, %v", v, err)
	}
}

// HELLO 3 switches the client to RESP3 end to end; CLIENT TRACKING is refused clearly.
func TestServer_Resp3AndTracking(t *testing.T) {
	e := mustStart(t, nil)
	r := mustDialRaw(t, e.addr)
	if got := string(r.Do("HELLO", "3")); !strings.HasPrefix(got, "%7\r\n") || !strings.Contains(got, "proto\r\n:3") {
		t.Fatalf("HELLO 3 = %q", got)
	}
	r.Do("HSET", "h", "f", "v")
	if got := string(r.Do("HGETALL", "h")); got != "%1\r\n$1\r\nf\r\n$1\r\nv\r\n" {
		t.Fatalf("HGETALL over RESP3 = %q, want a map", got)
	}
	other := mustDialRaw(t, e.addr) // still RESP2
	if got := string(other.Do("HGETALL", "h")); got != "*2\r\n$1\r\nf\r\n$1\r\nv\r\n" {
		t.Fatalf("HGETALL over RESP2 = %q, want an array", got)
	}
	if got := string(r.Do("CLIENT", "TRACKING", "on")); !strings.HasPrefix(got, "-ERR hotswap: CLIENT TRACKING is not supported") {
		t.Fatalf("CLIENT TRACKING on = %q", got)
	}
	if got := string(r.Do("PING")); got != "+PONG\r\n" {
		t.Fatalf("PING after refusals = %q", got)
	}
	// go-redis v9 with its defaults speaks RESP3.
	c := redis.NewClient(&redis.Options{Addr: e.addr})
	defer c.Close()
	ctx := context.Background()
	if m, err := c.HGetAll(ctx, "h").Result(); err != nil || m["f"] != "v" {
		t.Fatalf("go-redis RESP3 HGETALL = %v, %v", m, err)
	}
	// RESP3 pub/sub: pushes arrive as push frames.
	sub := c.Subscribe(ctx, "c3")
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, func() error {
		if n := c.Publish(ctx, "c3", "m").Val(); n != 1 {
			return fmt.Errorf("PUBLISH reached %d", n)
		}
		return nil
	})
	select {
	case m := <-sub.Channel():
		if m.Payload != "m" {
			t.Fatalf("message %q", m.Payload)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no message over RESP3")
	}
}

// QUIT answers +OK and closes; RESET restores a fresh connection's state.
func TestServer_QuitReset(t *testing.T) {
	e := mustStart(t, nil)
	r := mustDialRaw(t, e.addr)
	r.Do("SELECT", "4")
	r.Do("CLIENT", "SETNAME", "x")
	r.Do("MULTI")
	if got := string(r.Do("RESET")); got != "+RESET\r\n" {
		t.Fatalf("RESET = %q", got)
	}
	if got := string(r.Do("CLIENT", "GETNAME")); got != "$-1\r\n" {
		t.Fatalf("name after RESET = %q", got)
	}
	r.Do("SET", "db0key", "1")
	r2 := mustDialRaw(t, e.addr)
	if got := string(r2.Do("GET", "db0key")); got != "$1\r\n1\r\n" {
		t.Fatalf("RESET did not return to db 0: %q", got)
	}
	r.Send([]byte("*1\r\n$4\r\nQUIT\r\n*1\r\n$4\r\nPING\r\n"))
	if got := string(r.Read()); got != "+OK\r\n" {
		t.Fatalf("QUIT = %q", got)
	}
	if b, err := r.ReadTimeout(2 * time.Second); !errors.Is(err, io.EOF) {
		t.Fatalf("after QUIT: %q, %v; want EOF", b, err)
	}
}

// A 100 MB value goes through and comes back intact.
func TestServer_LargeValue(t *testing.T) {
	if testing.Short() {
		t.Skip("100 MB value: skipped with -short")
	}
	e := mustStart(t, nil)
	c := goRedis(t, e.addr, func(o *redis.Options) { o.ReadTimeout = 60 * time.Second; o.WriteTimeout = 60 * time.Second })
	ctx := context.Background()
	big := bytes.Repeat([]byte("0123456789abcdef"), 100<<20/16)
	big[12345] = 0
	if err := c.Set(ctx, "big", big, 0).Err(); err != nil {
		t.Fatal(err)
	}
	got, err := c.Get(ctx, "big").Bytes()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, big) {
		t.Fatalf("value of %d bytes came back as %d bytes, different", len(big), len(got))
	}
	if n := c.StrLen(ctx, "big").Val(); n != int64(len(big)) {
		t.Fatalf("STRLEN = %d", n)
	}
}

// Malformed RESP gets Redis' protocol error and closes that client only.
func TestServer_MalformedRequests(t *testing.T) {
	e := mustStart(t, nil)
	bystander := mustDialRaw(t, e.addr)
	for _, in := range []string{
		"*1\r\n$x\r\n",
		"*x\r\n",
		"*2\r\n$3\r\nGET\r\n:1\r\n",
		"SET \"unbalanced\r\n",
	} {
		got := map[string]string{}
		for _, addr := range []string{e.addr, e.direct.Addr} {
			r := mustDialRaw(t, addr)
			r.Send([]byte(in))
			b, err := r.ReadTimeout(2 * time.Second)
			if err != nil {
				t.Fatalf("%q to %s: %v", in, addr, err)
			}
			if _, err := r.ReadTimeout(2 * time.Second); !errors.Is(err, io.EOF) {
				t.Fatalf("%q to %s: connection not closed (%v)", in, addr, err)
			}
			got[addr] = string(b)
		}
		if got[e.addr] != got[e.direct.Addr] {
			t.Errorf("%q: hotswap %q, redis %q", in, got[e.addr], got[e.direct.Addr])
		}
	}
	if got := string(bystander.Do("PING")); got != "+PONG\r\n" {
		t.Fatalf("other client affected: %q", got)
	}
}

// Redis down: each command gets a clear error naming the upstream, quickly; when
// Redis comes back, hotswap recovers by itself.
func TestServer_RedisDown(t *testing.T) {
	e := mustStart(t, nil)
	r := mustDialRaw(t, e.addr)
	r.Do("SET", "k", "v")
	e.backend.Stop()
	for i := 0; i < 3; i++ {
		start := time.Now()
		got := string(r.Do("GET", "k"))
		if !strings.HasPrefix(got, "-ERR hotswap: upstream redis "+e.backend.Addr+" unavailable") {
			t.Fatalf("with Redis down, GET = %q", got)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Fatalf("error took %v", d)
		}
	}
	e.backend.Restart()
	eventually(t, 5*time.Second, func() error {
		if got := string(r.Do("PING")); got != "+PONG\r\n" {
			return fmt.Errorf("PING = %q", got)
		}
		return nil
	})
}

// Redis that stops answering (SIGSTOP) yields an error after the read timeout, not a hang.
func TestServer_RedisHangs(t *testing.T) {
	e := mustStart(t, nil, withUpstream(func(o *upstream.Options) { o.ReadTimeout = 500 * time.Millisecond }))
	r := mustDialRaw(t, e.addr)
	r.Do("PING")
	e.backend.Pause()
	start := time.Now()
	got := string(r.Do("PING"))
	e.backend.Resume()
	if !strings.HasPrefix(got, "-ERR hotswap: upstream redis") || !strings.Contains(got, "no reply within") {
		t.Fatalf("PING to a hung Redis = %q", got)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("took %v with a 500ms read timeout", d)
	}
	eventually(t, 5*time.Second, func() error {
		if got := string(r.Do("PING")); got != "+PONG\r\n" {
			return fmt.Errorf("PING = %q", got)
		}
		return nil
	})
}

// Close lets in-flight commands finish and refuses new clients.
func TestServer_GracefulClose(t *testing.T) {
	e := mustStart(t, nil)
	r := mustDialRaw(t, e.addr)
	r.Send(resp.AppendCommandString(nil, "EVAL", "local t = redis.call('TIME') while true do local n = redis.call('TIME') if (n[1]-t[1])*1000000 + (n[2]-t[2]) > 300000 then break end end return 'done'", "0"))
	time.Sleep(50 * time.Millisecond)
	closed := make(chan error, 1)
	go func() { closed <- e.srv.Close(context.Background()) }()
	if got := string(r.Read()); got != "$4\r\ndone\r\n" {
		t.Fatalf("in-flight command = %q", got)
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
}

// Close right after Open returns (redcon may not have started serving yet).
func TestServer_CloseRightAfterOpen(t *testing.T) {
	backend := testutil.MustStartRedis(t)
	for i := 0; i < 20; i++ {
		srv := proxy.New(proxy.Config{Upstream: upstream.Options{Addr: backend.Addr}})
		if err := srv.Open(context.Background(), "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- srv.Close(context.Background()) }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Close did not return")
		}
	}
}

// A transaction sent as one pipeline, with a SELECT inside, leaves the client in the
// db Redis says and returns no connection to the pool in the wrong db.
func TestServer_PipelinedTransactionWithSelect(t *testing.T) {
	e := mustStart(t, nil)
	run := func(addr string) []string {
		r := mustDialRaw(t, addr)
		var req []byte
		for _, args := range [][]string{
			{"MULTI"}, {"SELECT", "2"}, {"SET", "k", "in2"}, {"EXEC"},
			{"SET", "k2", "after"}, {"MULTI"}, {"SELECT", "3"}, {"DISCARD"}, {"GET", "k2"},
		} {
			req = resp.AppendCommandString(req, args...)
		}
		r.Send(req)
		var out []string
		for i := 0; i < 9; i++ {
			out = append(out, string(r.Read()))
		}
		// And once the batch is over, the client is in the db Redis says.
		out = append(out, string(r.Do("GET", "k2")), string(r.Do("GET", "k")))
		return out
	}
	got, want := run(e.addr), run(e.direct.Addr)
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("reply %d: hotswap %q, redis %q", i, got[i], want[i])
		}
	}
	// Other clients start in db 0, whatever connection serves them.
	for i := 0; i < 10; i++ {
		r := mustDialRaw(t, e.addr)
		r.Do("MULTI")
		r.Do("EXEC")
		if got := string(r.Do("GET", "k")); got != "$-1\r\n" {
			t.Fatalf("a new client reads db 2's key: %q", got)
		}
	}
}
