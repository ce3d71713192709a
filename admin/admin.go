// Package admin is hotswap's operator-facing HTTP listener: /healthz (the process is
// alive), /readyz (it can serve: the reason in the body when not) and /status (JSON).
// Later work adds the fleet registry, stages and /metrics to it.
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
	"time"
)

// Checks are what the endpoints report. Each func may be nil.
type Checks struct {
	// Ready returns nil when hotswap can serve, else the reason.
	Ready func(ctx context.Context) error
	// Status returns a JSON-serialisable snapshot.
	Status func() any
	// Pprof mounts net/http/pprof under /debug/pprof/ (for profiling a live process).
	Pprof bool
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
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if s.checks.Ready != nil {
			ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
			defer cancel()
			if err := s.checks.Ready(ctx); err != nil {
				w.WriteHeader(http.StatusServiceUnavailable)
				fmt.Fprintf(w, "not ready: %v\n", err)
				return
			}
		}
		fmt.Fprintln(w, "ready")
	})
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
