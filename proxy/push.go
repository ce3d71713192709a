package proxy

import (
	"errors"
	"strings"

	"hotswap/internal/redcon"
	"hotswap/resp"
)

// Push mode: SUBSCRIBE, PSUBSCRIBE, SSUBSCRIBE and MONITOR turn a connection into a
// stream Redis writes to whenever it likes. The client gets a connection of its own
// for good, leaves redcon's request/reply loop (Detach), and two goroutines relay:
// the upstream reader writes every frame to the client, and the client loop forwards
// every command raw. Redis itself enforces what a subscribed client may send, so its
// errors reach the client unchanged.

// enterPush starts push mode with cmd and relays the rest of the batch after it.
func (ss *session) enterPush(c redcon.Conn, cmd redcon.Command, rest []redcon.Command) {
	if !ss.pin(c) {
		// The error went out as cmd's reply; run the rest of the batch normally.
		ss.run(c, rest)
		return
	}
	ss.flush(c)
	up := ss.ded
	dc := c.Detach()
	ss.detachedConn = dc
	ss.srv.addDetached(ss)
	up.SetBlocking(true) // pushes come whenever they come: no read timeout
	up.SetSink(pushSink{ss})

	var out []byte
	out = append(out, cmd.Raw...)
	for _, r := range rest {
		out = append(out, r.Raw...)
	}
	if err := up.SendRaw(out); err != nil {
		ss.writePush(appendError(nil, err))
		ss.closeDetached()
		return
	}
	go func() {
		<-up.Closed()
		ss.closeDetached()
	}()
	go ss.pushLoop(dc)
}

// pushLoop forwards the client's commands to its upstream connection.
func (ss *session) pushLoop(dc redcon.DetachedConn) {
	defer ss.closeDetached()
	for {
		cmd, err := dc.ReadCommand()
		if err != nil {
			if msg := err.Error(); strings.HasPrefix(msg, "Protocol error") {
				ss.writePush(resp.AppendError(nil, "ERR "+msg))
			}
			return
		}
		if len(cmd.Args) == 0 {
			continue
		}
		if err := ss.ded.SendRaw(cmd.Raw); err != nil {
			ss.writePush(appendError(nil, err))
			return
		}
	}
}

func (ss *session) writePush(b []byte) {
	ss.pushMu.Lock()
	defer ss.pushMu.Unlock()
	ss.detachedConn.WriteRaw(b)
	_ = ss.detachedConn.Flush()
}

// closeDetached ends a push-mode client: its connection and its upstream connection.
func (ss *session) closeDetached() {
	ss.closeOnce.Do(func() {
		ss.pushMu.Lock()
		_ = ss.detachedConn.Close()
		ss.pushMu.Unlock()
		if ss.ded != nil {
			ss.ded.Close(errors.New("client left"))
		}
		ss.srv.removeDetached(ss)
	})
}

type pushSink struct{ ss *session }

func (p pushSink) Frame(b []byte) error {
	p.ss.pushMu.Lock()
	p.ss.detachedConn.WriteRaw(b)
	p.ss.pushMu.Unlock()
	return nil
}

func (p pushSink) Flush() error {
	p.ss.pushMu.Lock()
	defer p.ss.pushMu.Unlock()
	return p.ss.detachedConn.Flush()
}
