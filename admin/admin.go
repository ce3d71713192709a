// Package admin is hotswap's operator-facing HTTP listener: /healthz (the process is
// alive; the state of its dependencies in the body), /readyz (it can serve: the reason
// in the body when not), /status (JSON), and the handlers package observe provides:
// /metrics (Prometheus), / (the status page) and /summary (its JSON).
package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Checks are what the endpoints report. Each func may be nil.
type Checks struct {
	// Ready returns nil when hotswap can serve, else the reason.
	Ready func(ctx context.Context) error
	// Probes are further readiness checks (DynamoDB, flags): /readyz fails when one
	// does, naming it; /healthz lists their state but stays 200, since restarting a
	// sidecar does not bring a backend back.
	Probes []Probe
	// Metrics serves /metrics; Page serves / (the status page); Summary serves
	// /summary. Each may be nil.
	Metrics, Page, Summary http.Handler
	// Status returns a JSON-serialisable snapshot.
	Status func() any
	// Pprof mounts net/http/pprof under /debug/pprof/ (for profiling a live process).
	Pprof bool
	// KillSwitch, when set, serves POST /killswitch?on=true|false: it turns this
	// instance's kill switch on or off and returns what that did, in words.
	KillSwitch func(on bool) string
}

// Probe is one named readiness check.
type Probe struct {
	Name  string
	Check func(ctx context.Context) error
}

// Cached wraps a check so that it runs at most once per ttl, each run bounded by
// timeout (whatever the caller's context says, so a client that gives up does not
// leave a failure cached); callers in between get the last result.
func Cached(ttl, timeout time.Duration, check func(ctx context.Context) error) func(ctx context.Context) error {
	var mu sync.Mutex
	var at time.Time
	var last error
	return func(ctx context.Context) error {
		mu.Lock()
		defer mu.Unlock()
		if !at.IsZero() && time.Since(at) < ttl {
			return last
		}
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
		defer cancel()
		last = check(cctx)
		at = time.Now()
		return last
	}
}

// Server is the admin HTTP server.
type Server struct {
	checks Checks
	log    *slog.Logger
	hs     *http.Server
	ln     net.Listener
	done   chan error
}

// New returns an admin server; Open starts it.
func New(checks Checks, log *slog.Logger) *Server {
	if log == nil {
		log = slog.Default()
	}
	return &Server{checks: checks, log: log}
}

// Handler returns the endpoints, for tests and for mounting elsewhere.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		fmt.Fprintln(w, "ok")
		for _, p := range s.checks.Probes {
			fmt.Fprintln(w, probeLine(p.Name, p.Check(ctx)))
		}
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := s.ready(ctx); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, "not ready: %v\n", err)
			return
		}
		fmt.Fprintln(w, "ready")
		for _, p := range s.checks.Probes {
			fmt.Fprintln(w, probeLine(p.Name, nil))
		}
	})
	if s.checks.Metrics != nil {
		mux.Handle("GET /metrics", s.checks.Metrics)
	}
	if s.checks.Page != nil {
		mux.Handle("GET /{$}", s.checks.Page)
	}
	if s.checks.Summary != nil {
		mux.Handle("GET /summary", s.checks.Summary)
	}
	if s.checks.KillSwitch != nil {
		mux.HandleFunc("POST /killswitch", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			on, err := strconv.ParseBool(r.URL.Query().Get("on"))
			if err != nil {
				w.WriteHeader(http.StatusBadRequest)
				fmt.Fprintln(w, "want ?on=true or ?on=false")
				return
			}
			fmt.Fprintln(w, s.checks.KillSwitch(on))
		})
	}
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		var v any = struct{}{}
		if s.checks.Status != nil {
			v = s.checks.Status()
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(v); err != nil {
			s.log.Warn("admin: encode status", "err", err)
		}
	})
	if s.checks.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// ready runs Ready and every probe: nil, or what failed (every failure, one a line).
func (s *Server) ready(ctx context.Context) error {
	var errs []string
	if s.checks.Ready != nil {
		if err := s.checks.Ready(ctx); err != nil {
			errs = append(errs, err.Error())
		}
	}
	for _, p := range s.checks.Probes {
		if err := p.Check(ctx); err != nil {
			errs = append(errs, p.Name+": "+err.Error())
		}
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "\nnot ready: "))
	}
	return nil
}

// Ready runs the readiness checks as /readyz does (for the status page).
func (s *Server) Ready(ctx context.Context) error { return s.ready(ctx) }

func probeLine(name string, err error) string {
	if err != nil {
		return name + ": " + strings.ReplaceAll(err.Error(), "\n", " ")
	}
	return name + ": ok"
}

// Open listens on addr and serves in the background.
func (s *Server) Open(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("admin: listen %s: %w", addr, err)
	}
	s.ln = ln
	s.hs = &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 5 * time.Second}
	s.done = make(chan error, 1)
	go func() { s.done <- s.hs.Serve(ln) }()
	s.log.Info("admin listening", "addr", ln.Addr().String())
	return nil
}

// Addr is the listening address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Close shuts the server down, waiting for requests in flight until ctx ends.
func (s *Server) Close(ctx context.Context) error {
	if s.hs == nil {
		return nil
	}
	err := s.hs.Shutdown(ctx)
	if serr := <-s.done; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("admin: close: %w", err)
	}
	return nil
}
