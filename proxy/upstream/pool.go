// Package upstream keeps hotswap's connections to Redis: a few shared, pipelined
// connections per identity (user, password, db) that many clients' plain commands share,
// and dedicated connections lent to one client at a time for what cannot be shared
// (MULTI/WATCH, blocking commands, pub/sub). A watchdog bounds how long a command may
// wait for its reply, so a Redis that hangs yields errors, never a hang.
package upstream

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"hotswap/resp"
)

// Key is what makes two upstream connections interchangeable: replies depend on who is
// authenticated, which db is selected and which protocol (RESP2 or RESP3) is spoken.
type Key struct {
	User     string
	Password string
	DB       int
	Proto    int // 2 or 3 (HELLO 3); 0 means 2
}

// Options configure a Pool. Zero values take the defaults noted.
type Options struct {
	Addr     string      // host:port of Redis
	TLS      *tls.Config // nil: plain TCP
	Username string      // default identity, from the Redis URL
	Password string
	DB       int

	DialTimeout time.Duration // connect plus handshake; default 2s
	ReadTimeout time.Duration // longest wait for a reply to a non-blocking command; default 10s
	SharedConns int           // shared connections per Key; default 1
	MaxConns    int           // cap on all upstream connections; default 1000
	MaxIdle     int           // idle dedicated connections kept per Key; default 16
	// DownBackoff is how long after a failed dial commands fail fast with that error
	// instead of dialling again; default 100ms.
	DownBackoff time.Duration
}

// DefaultKey is the identity a new client starts with.
func (o Options) DefaultKey() Key {
	return Key{User: o.Username, Password: o.Password, DB: o.DB, Proto: 2}
}

func (o *Options) setDefaults() {
	if o.DialTimeout <= 0 {
		o.DialTimeout = 2 * time.Second
	}
	if o.ReadTimeout <= 0 {
		o.ReadTimeout = 10 * time.Second
	}
	if o.SharedConns <= 0 {
		o.SharedConns = 1
	}
	if o.MaxConns <= 0 {
		o.MaxConns = 1000
	}
	if o.MaxIdle <= 0 {
		o.MaxIdle = 16
	}
	if o.DownBackoff <= 0 {
		o.DownBackoff = 100 * time.Millisecond
	}
}

// UnavailableError says Redis could not be reached or stopped answering.
type UnavailableError struct {
	Addr string
	Err  error
}

func (e *UnavailableError) Error() string {
	return fmt.Sprintf("upstream redis %s unavailable: %v", e.Addr, e.Err)
}

func (e *UnavailableError) Unwrap() error { return e.Err }

// ErrLimit is returned when MaxConns connections are open.
var ErrLimit = errors.New("upstream connection limit reached")

// ErrPoolClosed is returned after Close.
var ErrPoolClosed = errors.New("upstream pool closed")

type group struct {
	shared  []*Conn
	idle    []*Conn
	rr      uint32
	dialing chan struct{} // non-nil while a shared dial is in progress
}

// Pool owns every upstream connection.
type Pool struct {
	opts Options

	mu        sync.Mutex
	groups    map[Key]*group
	all       map[*Conn]struct{}
	closed    bool
	downUntil time.Time
	downErr   error

	stop chan struct{}
	wg   sync.WaitGroup
}

// NewPool returns a pool and starts its watchdog. Close stops it.
func NewPool(opts Options) *Pool {
	opts.setDefaults()
	p := &Pool{
		opts:   opts,
		groups: make(map[Key]*group),
		all:    make(map[*Conn]struct{}),
		stop:   make(chan struct{}),
	}
	p.wg.Add(1)
	go p.watchdog()
	return p
}

// Shared returns one of key's shared connections, dialling one if there are fewer than
// SharedConns. Many clients send on it at once.
func (p *Pool) Shared(ctx context.Context, key Key) (*Conn, error) {
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return nil, ErrPoolClosed
		}
		g := p.groupLocked(key)
		live := len(g.shared)
		if live >= p.opts.SharedConns || (live > 0 && g.dialing != nil) {
			g.rr++
			c := g.shared[int(g.rr)%live]
			p.mu.Unlock()
			return c, nil
		}
		if g.dialing != nil { // none live: wait for the dial in progress
			ch := g.dialing
			p.mu.Unlock()
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		if err := p.admitLocked(); err != nil {
			if live > 0 {
				g.rr++
				c := g.shared[int(g.rr)%live]
				p.mu.Unlock()
				return c, nil
			}
			p.mu.Unlock()
			return nil, err
		}
		ch := make(chan struct{})
		g.dialing = ch
		p.mu.Unlock()

		c, err := p.dial(ctx, key)

		p.mu.Lock()
		g.dialing = nil
		close(ch)
		if err != nil {
			p.mu.Unlock()
			return nil, err
		}
		g.shared = append(g.shared, c)
		p.mu.Unlock()
		return c, nil
	}
}

// Dedicated lends a connection to one client: an idle one of key, or a new one.
// Give it back with Release.
func (p *Pool) Dedicated(ctx context.Context, key Key) (*Conn, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, ErrPoolClosed
	}
	g := p.groupLocked(key)
	for len(g.idle) > 0 {
		c := g.idle[len(g.idle)-1]
		g.idle = g.idle[:len(g.idle)-1]
		if c.Err() == nil {
			p.mu.Unlock()
			return c, nil
		}
	}
	if err := p.admitLocked(); err != nil {
		p.mu.Unlock()
		return nil, err
	}
	p.mu.Unlock()
	return p.dial(ctx, key)
}

// Verify dials a new connection as key, so Redis itself checks the credentials and the
// db index (AUTH, SELECT, HELLO ... AUTH), and keeps it as an idle dedicated connection.
// A rejection comes back as the *resp.Error Redis sent.
func (p *Pool) Verify(ctx context.Context, key Key) error {
	p.mu.Lock()
	if err := p.admitLocked(); err != nil {
		p.mu.Unlock()
		return err
	}
	p.mu.Unlock()
	c, err := p.dial(ctx, key)
	if err != nil {
		return err
	}
	p.Release(c, true)
	return nil
}

// Known reports whether connections for key have been set up before (so its
// credentials and db were accepted by Redis).
func (p *Pool) Known(key Key) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	g := p.groups[key]
	return g != nil && (len(g.shared) > 0 || len(g.idle) > 0)
}

// Release gives back a dedicated connection. clean says the client left it as it found
// it (no transaction, no WATCH, no blocking command or subscription in flight); a
// connection that is not clean is closed, never reused.
func (p *Pool) Release(c *Conn, clean bool) {
	if c == nil {
		return
	}
	if !clean || c.Err() != nil {
		c.Close(errors.New("released dirty"))
		return
	}
	c.SetBlocking(false)
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		c.Close(ErrPoolClosed)
		return
	}
	g := p.groupLocked(c.key)
	if len(g.idle) >= p.opts.MaxIdle {
		p.mu.Unlock()
		c.Close(errors.New("too many idle"))
		return
	}
	g.idle = append(g.idle, c)
	p.mu.Unlock()
}

// Stats is a snapshot of the pool for /status.
type Stats struct {
	Open      int    `json:"open"`
	Shared    int    `json:"shared"`
	Idle      int    `json:"idle_dedicated"`
	InUse     int    `json:"dedicated_in_use"`
	Pending   int    `json:"pending_replies"`
	MaxConns  int    `json:"max_conns"`
	LastError string `json:"last_dial_error,omitempty"`
}

// Stats returns a snapshot.
func (p *Pool) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := Stats{Open: len(p.all), MaxConns: p.opts.MaxConns}
	for _, g := range p.groups {
		s.Shared += len(g.shared)
		s.Idle += len(g.idle)
	}
	s.InUse = s.Open - s.Shared - s.Idle
	for c := range p.all {
		s.Pending += int(c.pending.Load())
	}
	if p.downErr != nil && time.Now().Before(p.downUntil.Add(10*time.Second)) {
		s.LastError = p.downErr.Error()
	}
	return s
}

// Ping dials (or reuses) a shared connection and sends PING: for /readyz.
func (p *Pool) Ping(ctx context.Context) error {
	c, err := p.Shared(ctx, p.opts.DefaultKey())
	if err != nil {
		return err
	}
	call := NewCall()
	if err := c.Send(call, 1, []byte("*1\r\n$4\r\nPING\r\n")); err != nil {
		return err
	}
	select {
	case <-call.Done():
	case <-ctx.Done():
		return ctx.Err()
	}
	if call.Err != nil {
		return call.Err
	}
	v, _, err := resp.Parse(call.Reply(0))
	if err != nil {
		return err
	}
	return v.Err()
}

// Do sends one RESP-encoded command on a shared connection of the default identity
// (the Redis URL's user, db and RESP2) and returns the decoded reply: for hotswap's
// own requests (the sync journal), never a client's.
func (p *Pool) Do(ctx context.Context, cmd []byte) (resp.Value, error) {
	c, err := p.Shared(ctx, p.opts.DefaultKey())
	if err != nil {
		return resp.Value{}, err
	}
	call := NewCall()
	if err := c.Send(call, 1, cmd); err != nil {
		return resp.Value{}, err
	}
	select {
	case <-call.Done():
	case <-ctx.Done():
		return resp.Value{}, ctx.Err()
	}
	if call.Err != nil && call.Len() == 0 {
		return resp.Value{}, call.Err
	}
	v, _, err := resp.Parse(call.Reply(0))
	return v, err
}

// Close closes every connection; calls in flight get ErrPoolClosed.
func (p *Pool) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	conns := make([]*Conn, 0, len(p.all))
	for c := range p.all {
		conns = append(conns, c)
	}
	p.mu.Unlock()
	close(p.stop)
	for _, c := range conns {
		c.Close(ErrPoolClosed)
	}
	p.wg.Wait()
}

func (p *Pool) groupLocked(key Key) *group {
	g := p.groups[key]
	if g == nil {
		g = &group{}
		p.groups[key] = g
	}
	return g
}

// admitLocked checks the connection cap and the fail-fast window after a failed dial.
func (p *Pool) admitLocked() error {
	if p.downErr != nil && time.Now().Before(p.downUntil) {
		return p.downErr
	}
	if len(p.all) >= p.opts.MaxConns {
		return fmt.Errorf("%w (%d)", ErrLimit, p.opts.MaxConns)
	}
	return nil
}

// dial connects, authenticates and selects the db of key, and starts the reader.
func (p *Pool) dial(ctx context.Context, key Key) (*Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, p.opts.DialTimeout)
	defer cancel()
	nc, err := p.connect(ctx)
	if err != nil {
		err = &UnavailableError{Addr: p.opts.Addr, Err: err}
		p.mu.Lock()
		p.downErr, p.downUntil = err, time.Now().Add(p.opts.DownBackoff)
		p.mu.Unlock()
		return nil, err
	}
	if err := handshake(ctx, nc, key); err != nil {
		_ = nc.Close()
		var rerr *resp.Error
		if !errors.As(err, &rerr) {
			err = &UnavailableError{Addr: p.opts.Addr, Err: err}
		}
		return nil, err
	}
	c := newConn(p, key, nc)
	p.mu.Lock()
	p.downErr = nil
	if p.closed {
		p.mu.Unlock()
		_ = nc.Close()
		return nil, ErrPoolClosed
	}
	p.all[c] = struct{}{}
	p.mu.Unlock()
	go c.readLoop()
	go c.writeLoop()
	return c, nil
}

func (p *Pool) connect(ctx context.Context) (net.Conn, error) {
	d := net.Dialer{KeepAlive: 30 * time.Second}
	nc, err := d.DialContext(ctx, "tcp", p.opts.Addr)
	if err != nil {
		return nil, err
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	if p.opts.TLS == nil {
		return nc, nil
	}
	tc := tls.Client(nc, p.opts.TLS)
	if err := tc.HandshakeContext(ctx); err != nil {
		_ = nc.Close()
		return nil, fmt.Errorf("tls handshake: %w", err)
	}
	return tc, nil
}

// handshake sends HELLO 3 or AUTH, and SELECT, as key needs them, pipelined, and
// checks the replies.
func handshake(ctx context.Context, nc net.Conn, key Key) error {
	var req []byte
	n := 0
	// An empty User means the one-argument AUTH form, which Redis treats differently
	// from "AUTH default pass" and from HELLO AUTH (it refuses a password when the
	// default user has none): replay the form the client used.
	switch {
	case key.User != "" && key.Proto == 3:
		req = resp.AppendCommandString(req, "HELLO", "3", "AUTH", key.User, key.Password)
		n++
	case key.User != "":
		req = resp.AppendCommandString(req, "AUTH", key.User, key.Password)
		n++
	case key.Password != "":
		req = resp.AppendCommandString(req, "AUTH", key.Password)
		n++
	}
	if key.Proto == 3 && key.User == "" {
		req = resp.AppendCommandString(req, "HELLO", "3")
		n++
	}
	if key.DB != 0 {
		req = resp.AppendCommandString(req, "SELECT", fmt.Sprint(key.DB))
		n++
	}
	if n == 0 {
		return nil
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(dl)
		defer nc.SetDeadline(time.Time{})
	}
	if _, err := nc.Write(req); err != nil {
		return fmt.Errorf("handshake write: %w", err)
	}
	buf := make([]byte, 0, 512)
	tmp := make([]byte, 512)
	var firstErr error
	for got := 0; got < n; {
		v, m, err := resp.Parse(buf)
		if err == nil {
			buf = buf[m:]
			got++
			if e := v.Err(); e != nil && firstErr == nil {
				firstErr = e
			}
			continue
		}
		if !strings.Contains(err.Error(), "incomplete") {
			return fmt.Errorf("handshake: %w", err)
		}
		k, err := nc.Read(tmp)
		if err != nil {
			return fmt.Errorf("handshake read: %w", err)
		}
		buf = append(buf, tmp[:k]...)
	}
	return firstErr
}

// watchdog closes connections whose oldest call has waited longer than ReadTimeout
// without any bytes arriving. It ticks ten times per ReadTimeout, so a hang is cut off
// after between 0.9 and 1.0 ReadTimeout; the hot path pays nothing for it.
func (p *Pool) watchdog() {
	defer p.wg.Done()
	tick := p.opts.ReadTimeout / 10
	t := time.NewTicker(tick)
	defer t.Stop()
	var conns []*Conn
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
		}
		conns = conns[:0]
		p.mu.Lock()
		for c := range p.all {
			conns = append(conns, c)
		}
		p.mu.Unlock()
		for _, c := range conns {
			prog := c.progress.Load()
			if c.pending.Load() == 0 || c.blocking.Load() || prog != c.seen {
				c.seen, c.stalled = prog, 0
				continue
			}
			c.stalled++
			if c.stalled >= 10 {
				c.Close(fmt.Errorf("no reply within %v", p.opts.ReadTimeout))
			}
		}
	}
}

// forget drops a closed connection from the pool's books.
func (p *Pool) forget(c *Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.all, c)
	g := p.groups[c.key]
	if g == nil {
		return
	}
	g.shared = remove(g.shared, c)
	g.idle = remove(g.idle, c)
}

func remove(s []*Conn, c *Conn) []*Conn {
	for i, x := range s {
		if x == c {
			s[i] = s[len(s)-1]
			s[len(s)-1] = nil
			return s[:len(s)-1]
		}
	}
	return s
}
