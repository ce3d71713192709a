package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"hotswap/dual"
	"hotswap/internal/redcon"
	"hotswap/proxy/upstream"
	"hotswap/translate"
)

// Config configures a Server.
type Config struct {
	Upstream upstream.Options
	// ShutdownTimeout bounds how long Close waits for in-flight commands; default 10s.
	ShutdownTimeout time.Duration
	Logger          *slog.Logger // nil: slog.Default()
	Version         string       // reported by /status
	// Engine runs the commands on keys of DynamoDB-authoritative key families (route.go);
	// nil: every command goes to Redis.
	Engine *translate.Engine
	// Syncer copies the writes on keys of dual-written families (dualwrite, shadow) to
	// DynamoDB (package dual); nil: those families are refused at start.
	Syncer *dual.Syncer
	// Shadow compares reads with the other store in the shadow and live stages; nil:
	// no comparisons.
	Shadow *dual.Shadow
	// Stages gives each family's entity its stage (package flags); nil: every
	// family is served at its mapping floor.
	Stages StageSource
	// Observer is told of every command and Redis round trip (metrics, traces:
	// package observe); nil: nothing is recorded.
	Observer Observer
}

// Server is the RESP server: it accepts clients, keeps a session per client and runs
// their commands through the upstream pool.
type Server struct {
	cfg  Config
	log  *slog.Logger
	pool *upstream.Pool
	rs   *redcon.Server
	ln   net.Listener

	ctx    context.Context
	cancel context.CancelFunc

	started  time.Time
	tracing  bool // cfg.Observer traces commands
	nextID   atomic.Int64
	clients  atomic.Int64 // connected now
	accepted atomic.Int64 // since start
	inflight atomic.Int64 // handlers running now
	draining atomic.Bool

	mu       sync.Mutex
	detached map[*session]struct{} // sessions that left redcon's loop (pub/sub, MONITOR)
	serveErr chan error
}

// New returns a Server; Open starts it.
func New(cfg Config) *Server {
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Server{cfg: cfg, log: cfg.Logger, detached: make(map[*session]struct{})}
	s.tracing = cfg.Observer != nil && cfg.Observer.Tracing()
	return s
}

// Open listens on addr ("127.0.0.1:0" picks a free port) and serves in the background.
func (s *Server) Open(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("proxy: listen %s: %w", addr, err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves on ln in the background.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	s.ln = ln
	s.started = time.Now()
	s.pool = upstream.NewPool(s.cfg.Upstream)
	s.rs = redcon.NewServer(ln.Addr().String(), s.handle, s.accept, s.closed)
	s.serveErr = make(chan error, 1)
	go func() { s.serveErr <- s.rs.Serve(ln) }()
	s.log.Info("serving", "listen", ln.Addr().String(), "upstream", s.cfg.Upstream.Addr)
	return nil
}

// Addr is the address clients connect to.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Pool exposes the upstream pool (status, readiness).
func (s *Server) Pool() *upstream.Pool { return s.pool }

// Close stops accepting clients, waits up to ShutdownTimeout (or ctx) for in-flight
// commands to finish, then closes every client and upstream connection.
func (s *Server) Close(ctx context.Context) error {
	if s.rs == nil || s.draining.Swap(true) {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ShutdownTimeout)
	defer cancel()
	var firstErr error
	// Wait until no handler is running. Batches that arrive from now on are not run:
	// their clients are disconnected (handle), so the wait only covers what was
	// already running.
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for s.inflight.Load() > 0 && firstErr == nil {
		select {
		case <-tick.C:
		case <-ctx.Done():
			firstErr = fmt.Errorf("proxy: drain: %w", ctx.Err())
			s.log.Warn("shutdown: commands still in flight at the deadline; closing anyway",
				"in_flight", s.inflight.Load())
		}
	}
	// redcon's Close closes the listener and every attached client; it fails with
	// "not serving" if its Serve has not started yet, so close the listener too.
	_ = s.rs.Close()
	if err := s.ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) && firstErr == nil {
		firstErr = fmt.Errorf("proxy: close listener: %w", err)
	}
	s.mu.Lock()
	detached := make([]*session, 0, len(s.detached))
	for ss := range s.detached {
		detached = append(detached, ss)
	}
	s.mu.Unlock()
	for _, ss := range detached {
		ss.closeDetached()
	}
	s.pool.Close()
	s.cancel()
	<-s.serveErr
	return firstErr
}

// Stats is a snapshot for /status.
type Stats struct {
	Clients  int64          `json:"clients"`
	Accepted int64          `json:"accepted"`
	Draining bool           `json:"draining"`
	Upstream upstream.Stats `json:"upstream"`
}

// Stats returns a snapshot.
func (s *Server) Stats() Stats {
	return Stats{
		Clients:  s.clients.Load(),
		Accepted: s.accepted.Load(),
		Draining: s.draining.Load(),
		Upstream: s.pool.Stats(),
	}
}

// Started is when Open was called.
func (s *Server) Started() time.Time { return s.started }

func (s *Server) accept(c redcon.Conn) bool {
	if s.draining.Load() {
		return false
	}
	ss := newSession(s, c)
	c.SetContext(ss)
	s.clients.Add(1)
	s.accepted.Add(1)
	return true
}

func (s *Server) closed(c redcon.Conn, err error) {
	ss, ok := c.Context().(*session)
	if !ok {
		return
	}
	if ss.detachedConn != nil {
		return // the detached loop owns the session now
	}
	ss.release()
	s.clients.Add(-1)
}

func (s *Server) handle(c redcon.Conn, cmd redcon.Command) {
	ss := c.Context().(*session)
	s.inflight.Add(1)
	defer s.inflight.Add(-1)
	// Counted first, checked second: Close sets draining and then waits for the
	// count to reach 0, so a batch either runs to its replies before the pool
	// closes, or is not run at all and its client sees the connection close. A
	// command hotswap took is never answered with an error of its own shutdown.
	if s.draining.Load() {
		c.Close()
		return
	}
	batch := append(ss.batch[:0], cmd)
	batch = append(batch, c.ReadPipeline()...)
	ss.run(c, batch)
	clear(batch)
	ss.batch = batch[:0]
}

func (s *Server) addDetached(ss *session) {
	s.mu.Lock()
	s.detached[ss] = struct{}{}
	s.mu.Unlock()
}

func (s *Server) removeDetached(ss *session) {
	s.mu.Lock()
	delete(s.detached, ss)
	s.mu.Unlock()
	s.clients.Add(-1)
}
