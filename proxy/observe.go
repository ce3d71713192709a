package proxy

import (
	"context"
	"time"

	"hotswap/internal/redcon"
	"hotswap/proxy/command"
	"hotswap/translate"
)

// Observer is told of every client command and every Redis round trip, for metrics
// and traces (package observe). Its methods run on the sessions' goroutines for every
// command, so they must be cheap (a few atomic adds) and safe for concurrent use.
// Config.Observer nil: nothing is recorded, and a batch pays one nil check.
type Observer interface {
	// Command records one client command once its reply is known. info is nil for a
	// command the table does not know; fam is nil for a key of no family (stage off);
	// failed: the reply was an error; d runs from the start of the batch the command
	// came in to its reply.
	Command(info *command.Info, fam *translate.Family, st translate.Stage, failed bool, d time.Duration)
	// Redis records one round trip to Redis carrying n client commands (a segment of a
	// pipeline); first is the first of them.
	Redis(first *command.Info, n int, failed bool, d time.Duration)
	// Tracing reports whether commands may be traced at all; false: StartSpan is never
	// called.
	Tracing() bool
	// StartSpan starts the span of one client command if it is sampled, else returns
	// nil (the common case, decided without allocating).
	StartSpan(ctx context.Context, info *command.Info) Span
}

// Span is the span of one traced client command.
type Span interface {
	// Context carries the span, for the backend calls made on the command's behalf.
	Context() context.Context
	// Child starts a span for one backend call under this one.
	Child(name string, info *command.Info) Span
	// SetRoute names the key family and stage the command ran at.
	SetRoute(fam *translate.Family, st translate.Stage)
	// End ends the span; failed: the reply (or call) was an error.
	End(failed bool)
}

// obsCmd is what the observer learns of the command being dispatched.
type obsCmd struct {
	info    *command.Info
	fam     *translate.Family
	stage   translate.Stage
	span    Span
	pending bool // not recorded yet, and not handed to a pend
}

// beginCmd starts observing a command (Config.Observer set).
func (ss *session) beginCmd(info *command.Info) {
	ss.cur = obsCmd{info: info, pending: true}
	if ss.srv.tracing {
		ss.cur.span = ss.srv.cfg.Observer.StartSpan(ss.srv.ctx, info)
	}
}

// endCmd records the command if nothing did: its reply was written directly, or
// suppressed (CLIENT REPLY OFF, QUIT, entering push mode).
func (ss *session) endCmd() {
	if ss.cur.pending {
		ss.recordCmd(&ss.cur, false, time.Since(ss.t0))
	}
}

// noteRoute records the family and stage of the command being dispatched: the first
// key of a family decides.
func (ss *session) noteRoute(r *translate.Route, st translate.Stage) {
	if ss.srv.cfg.Observer == nil || ss.cur.fam != nil || r.Family == nil {
		return
	}
	ss.cur.fam, ss.cur.stage = r.Family, st
	if ss.cur.span != nil {
		ss.cur.span.SetRoute(r.Family, st)
	}
}

// recordCmd hands one command to the observer.
func (ss *session) recordCmd(oc *obsCmd, failed bool, d time.Duration) {
	oc.pending = false
	ss.srv.cfg.Observer.Command(oc.info, oc.fam, oc.stage, failed, d)
	if oc.span != nil {
		oc.span.End(failed)
		oc.span = nil
	}
}

// observeReply records the current command with the reply hotswap wrote for it.
func (ss *session) observeReply(b []byte) {
	if ss.srv.cfg.Observer != nil && ss.cur.pending {
		ss.recordCmd(&ss.cur, isErrorReply(b), time.Since(ss.t0))
	}
}

// writeRaw writes a reply for the current command straight to the client (not
// honouring CLIENT REPLY: the callers decided that), recording it.
func (ss *session) writeRaw(c redcon.Conn, b []byte) {
	ss.observeReply(b)
	c.WriteRaw(b)
}

// takeCmd hands the current command to the pend that will carry its reply.
func (ss *session) takeCmd() obsCmd {
	if !ss.cur.pending {
		return obsCmd{}
	}
	oc := ss.cur
	ss.cur.pending = false
	ss.cur.span = nil
	return oc
}

// cmdCtx is the context for the backend calls of the current command: the server's,
// carrying the command's span when it is traced.
func (ss *session) cmdCtx() context.Context {
	if ss.cur.span != nil {
		return ss.cur.span.Context()
	}
	ctx := ss.srv.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	return ctx
}

func isErrorReply(b []byte) bool { return len(b) > 0 && (b[0] == '-' || b[0] == '!') }

// segmentSpan starts the span of a Redis round trip under the first traced command
// of the segment, if any.
func (ss *session) segmentSpan() Span {
	if !ss.srv.tracing {
		return nil
	}
	for i := range ss.segPend {
		if p := &ss.segPend[i]; p.obs.span != nil {
			return p.obs.span.Child("redis", p.obs.info)
		}
	}
	return nil
}

// observeSegment records the Redis round trip of the segment being flushed.
func (ss *session) observeSegment(span Span, sent time.Time, err error) {
	var first *command.Info
	n := 0
	for i := range ss.segPend {
		if p := &ss.segPend[i]; p.obs.pending {
			if n == 0 {
				first = p.obs.info
			}
			n++
		}
	}
	ss.srv.cfg.Observer.Redis(first, n, err != nil, time.Since(sent))
	if span != nil {
		span.End(err != nil)
	}
}
