package proxy

import (
	"bytes"
	"errors"
	"sync"
	"time"

	"hotswap/internal/redcon"
	"hotswap/proxy/command"
	"hotswap/proxy/upstream"
	"hotswap/resp"
	"hotswap/translate"
)

// effect is what hotswap must learn from the reply to a forwarded command.
type effect uint8

const (
	effNone    effect = iota
	effMulti          // +OK: the held connection is in MULTI
	effExec           // EXEC or DISCARD: the transaction and WATCHes ended
	effWatch          // +OK: keys are watched
	effUnwatch        // +OK: no keys are watched
	effSelect         // +OK: the held connection's db changed
	effAuth           // +OK: the held connection's user changed
)

// pend is one forwarded command of the segment being built.
type pend struct {
	eff    effect
	silent bool // CLIENT REPLY OFF/SKIP: the reply is read and dropped
	arg    int  // effSelect: the new db
	// replace, when set, is written to the client instead of the reply (EXEC of a
	// transaction in which hotswap refused a command: Redis' EXECABORT).
	replace []byte
	// onReply, when set, receives the reply (hotswap's own commands in the segment:
	// the sync capture); such pends are silent.
	onReply func(reply []byte)
	key     upstream.Key
	obs     obsCmd // the client command this reply answers (Config.Observer)
}

// session is the state hotswap keeps for one client connection.
type session struct {
	srv  *Server
	id   int64
	conn redcon.Conn

	key     upstream.Key // identity and db the client has now
	name    []byte
	libName []byte
	libVer  []byte

	ded      *upstream.Conn // connection held by this client (MULTI, WATCH, pinned)
	dedDirty bool           // ded's identity or db changed: close it, don't reuse
	multi    bool           // ded is inside MULTI
	watching bool           // ded has WATCHed keys
	pinned   bool           // ded is held until the client leaves

	replyOff bool // CLIENT REPLY OFF
	skipNext bool // CLIENT REPLY SKIP

	// the segment being built: commands bound for one upstream connection
	seg     []byte
	segPend []pend
	segConn *upstream.Conn // nil: a shared connection, chosen at flush
	shared  *upstream.Conn // the shared connection this client last used

	call  *upstream.Call
	batch []redcon.Command

	// observing (Config.Observer): the command being dispatched, and when its batch
	// started
	cur obsCmd
	t0  time.Time

	// the DynamoDB path (route.go)
	keyIdx     []int
	routes     []translate.Route
	dynCmd     translate.Cmd
	dynBuf     []byte
	multiAbort bool // a command of this MULTI was refused: EXEC discards it
	txLocal    bool // inside a MULTI that hotswap queues itself (multi.go)
	txAbort    bool // a command of that MULTI was refused: EXEC aborts
	txQueue    []queued
	dynWatches []translate.Watch // WATCHed keys of DynamoDB families

	// push mode (pub/sub, MONITOR): set once the client left redcon's loop
	detachedConn redcon.DetachedConn
	pushMu       sync.Mutex
	closeOnce    sync.Once
}

func newSession(s *Server, c redcon.Conn) *session {
	return &session{
		srv:  s,
		id:   s.nextID.Add(1),
		conn: c,
		key:  s.cfg.Upstream.DefaultKey(),
		call: upstream.NewCall(),
	}
}

// run executes one batch of commands read from the client, in order. Commands bound
// for the same upstream connection are sent together; replies are written to the
// client's buffer, which redcon flushes when the handler returns.
func (ss *session) run(c redcon.Conn, cmds []redcon.Command) {
	if ss.srv.cfg.Observer != nil {
		ss.runObserved(c, cmds)
		return
	}
	for i, cmd := range cmds {
		if len(cmd.Args) == 0 {
			continue
		}
		info := command.Lookup(cmd.Args)
		if !ss.dispatch(c, cmd, info, cmds[i+1:]) {
			return // the client is gone (QUIT) or left for push mode
		}
	}
	ss.flush(c)
}

// runObserved is run with every command handed to Config.Observer.
func (ss *session) runObserved(c redcon.Conn, cmds []redcon.Command) {
	ss.t0 = time.Now()
	for i, cmd := range cmds {
		if len(cmd.Args) == 0 {
			continue
		}
		info := command.Lookup(cmd.Args)
		ss.beginCmd(info)
		more := ss.dispatch(c, cmd, info, cmds[i+1:])
		ss.endCmd()
		if !more {
			return // the client is gone (QUIT) or left for push mode
		}
	}
	ss.flush(c)
}

// dispatch handles one command. It returns false when the rest of the batch must not
// be run here.
func (ss *session) dispatch(c redcon.Conn, cmd redcon.Command, info *command.Info, rest []redcon.Command) bool {
	if ss.txLocal && (info == nil || info.Name != "quit" && info.Name != "reset") {
		ss.queueLocal(c, cmd, info)
		return true
	}
	if info == nil {
		ss.forward(cmd, effNone)
		return true
	}
	name := info.Name
	switch name {
	case "quit":
		ss.flush(c)
		ss.writeLocal(c, []byte("+OK\r\n"))
		_ = c.Close()
		return false
	case "reset": // never queued by MULTI
		ss.cmdReset(c)
		return true
	}
	if ss.multi {
		if ss.refuseInMulti(c, cmd, info) {
			return true
		}
		ss.forwardInMulti(cmd, info)
		return true
	}
	switch name {
	case "multi", "watch":
		if name == "multi" && ss.localTx() {
			ss.beginLocal(c)
			return true
		}
		if name == "watch" && ss.localTx() && ss.watchLocal(c, cmd, info) {
			return true
		}
		if !ss.hold(c) {
			return true
		}
		if name == "watch" {
			ss.forward(cmd, effWatch)
			return true
		}
		ss.forward(cmd, effMulti)
		// Assume MULTI succeeds, so the commands pipelined after it are treated as
		// queued (a SELECT among them pins the connection); the reply corrects it.
		ss.multi = true
		return true
	case "exec", "discard":
		ss.forward(cmd, effExec)
		return true
	case "unwatch":
		ss.dynWatches = nil
		ss.forward(cmd, effUnwatch)
		return true
	case "select":
		ss.cmdSelect(c, cmd)
		return true
	case "auth":
		ss.cmdAuth(c, cmd)
		return true
	case "hello":
		ss.cmdHello(c, cmd)
		return true
	case "subscribe", "psubscribe", "ssubscribe", "monitor":
		ss.enterPush(c, cmd, rest)
		return false
	case "wait", "waitaof":
		// WAIT counts replicas that acknowledged this connection's writes, so the
		// writes and the WAIT must share a connection: pin the client.
		if !ss.pin(c) {
			return true
		}
		ss.blocking(c, cmd)
		return true
	}
	if len(name) > 7 && name[:7] == "client|" {
		return ss.cmdClient(c, cmd, info)
	}
	if ss.routeDynamo(c, cmd, info) || ss.keyspaceCmd(c, cmd, info) {
		return true
	}
	if info.Has(command.Blocking) && isBlocking(name, cmd.Args) {
		ss.blocking(c, cmd)
		return true
	}
	ss.forward(cmd, effNone)
	return true
}

// forwardInMulti forwards a command Redis will queue (or refuse) inside MULTI.
func (ss *session) forwardInMulti(cmd redcon.Command, info *command.Info) {
	switch info.Name {
	case "exec":
		if ss.multiAbort {
			// Redis discards a transaction in which a command was refused at queue
			// time; hotswap refused one that Redis never saw, so it discards it.
			ss.multiAbort = false
			ss.forward(redcon.Command{Raw: []byte("*1\r\n$7\r\nDISCARD\r\n")}, effExec)
			ss.segPend[len(ss.segPend)-1].replace = []byte("-EXECABORT Transaction discarded because of previous errors.\r\n")
			return
		}
		ss.forward(cmd, effExec)
	case "discard":
		ss.multiAbort = false
		ss.forward(cmd, effExec)
	case "select", "auth", "hello", "swapdb":
		// Queued now, applied at EXEC: the db or user after EXEC is only known to
		// Redis, so this client keeps its connection for good.
		ss.pinned = true
		ss.dedDirty = true
		ss.forward(cmd, effNone)
	default:
		ss.forward(cmd, effNone)
	}
}

// isBlocking reports whether a command flagged blocking really blocks with these
// arguments: XREAD and XREADGROUP only block with BLOCK.
func isBlocking(name string, args [][]byte) bool {
	if name != "xread" && name != "xreadgroup" {
		return true
	}
	for _, a := range args[1:] {
		if len(a) == 5 && bytes.EqualFold(a, []byte("block")) {
			return true
		}
		if len(a) == 7 && bytes.EqualFold(a, []byte("streams")) {
			return false
		}
	}
	return false
}

// forward appends a command to the segment bound for the current connection.
func (ss *session) forward(cmd redcon.Command, eff effect) {
	target := ss.ded // nil: shared
	if target != ss.segConn || len(ss.segPend) == 0 {
		if len(ss.segPend) > 0 {
			ss.flush(ss.conn)
		}
		ss.segConn = target
	}
	ss.seg = append(ss.seg, cmd.Raw...)
	ss.segPend = append(ss.segPend, pend{eff: eff, silent: ss.silenceNext(), obs: ss.takeCmd()})
}

// silenceNext applies CLIENT REPLY OFF/SKIP to the next reply.
func (ss *session) silenceNext() bool {
	if ss.skipNext {
		ss.skipNext = false
		return true
	}
	return ss.replyOff
}

// writeLocal writes a reply hotswap made itself, honouring CLIENT REPLY.
func (ss *session) writeLocal(c redcon.Conn, b []byte) {
	ss.observeReply(b)
	if ss.silenceNext() {
		return
	}
	c.WriteRaw(b)
}

func (ss *session) writeError(c redcon.Conn, err error) {
	ss.writeLocal(c, appendError(nil, err))
}

// flush sends the segment, waits for its replies and writes them to the client.
func (ss *session) flush(c redcon.Conn) {
	n := len(ss.segPend)
	if n == 0 {
		return
	}
	call := ss.call
	obs := ss.srv.cfg.Observer
	var sent time.Time
	var span Span
	if obs != nil {
		sent = time.Now()
		span = ss.segmentSpan()
	}
	var err error
	if ss.segConn != nil {
		err = ss.segConn.Send(call, n, ss.seg)
	} else {
		err = ss.sendShared(call, n)
	}
	got := 0 // a failed send leaves the previous batch's replies in call
	if err == nil {
		<-call.Done()
		err = call.Err
		got = call.Len()
	}
	if obs != nil {
		ss.observeSegment(span, sent, err)
	}
	for i := 0; i < n; i++ {
		p := &ss.segPend[i]
		if i < got {
			reply := call.Reply(i)
			if p.onReply != nil {
				p.onReply(reply)
			}
			if p.obs.pending {
				ss.recordCmd(&p.obs, isErrorReply(reply), time.Since(ss.t0))
			}
			ss.apply(p, reply)
			if !p.silent {
				if p.replace != nil {
					reply = p.replace
				}
				c.WriteRaw(reply)
			}
			continue
		}
		if p.onReply != nil {
			p.onReply(appendError(nil, err)) // the capture did not run: re-captured
		}
		if p.obs.pending {
			ss.recordCmd(&p.obs, true, time.Since(ss.t0))
		}
		if !p.silent {
			c.WriteRaw(appendError(nil, err))
		}
	}
	if err != nil && ss.segConn != nil {
		// The held connection is gone, and with it any transaction or WATCH.
		ss.dropHeld()
	}
	ss.seg = ss.seg[:0]
	if cap(ss.seg) > maxKeptSeg {
		ss.seg = nil
	}
	ss.segPend = ss.segPend[:0]
	ss.segConn = nil
	ss.maybeRelease()
}

const maxKeptSeg = 1 << 20

// sendShared sends the segment on the client's shared connection (picked once per
// identity, so the pool's lock stays off the hot path), picking another if that one
// closed before anything was written.
func (ss *session) sendShared(call *upstream.Call, n int) error {
	if up := ss.shared; up != nil && up.Key() == ss.key {
		if err := up.Send(call, n, ss.seg); err == nil {
			return nil
		}
	}
	ss.shared = nil
	var err error
	for attempt := 0; attempt < 2; attempt++ {
		var up *upstream.Conn
		up, err = ss.srv.pool.Shared(ss.srv.ctx, ss.key)
		if err != nil {
			return err
		}
		if err = up.Send(call, n, ss.seg); err == nil {
			ss.shared = up
			return nil
		}
	}
	return err
}

// apply updates the session from the reply to a command with an effect.
func (ss *session) apply(p *pend, reply []byte) {
	ok := bytes.Equal(reply, []byte("+OK\r\n")) // not +QUEUED: inside MULTI nothing applies yet
	switch p.eff {
	case effMulti:
		ss.multi = ok
	case effExec:
		if bytes.HasPrefix(reply, []byte("-ERR EXEC without MULTI")) ||
			bytes.HasPrefix(reply, []byte("-ERR DISCARD without MULTI")) {
			return
		}
		ss.multi = false
		ss.watching = false
	case effWatch:
		if ok {
			ss.watching = true
		}
	case effUnwatch:
		if ok {
			ss.watching = false
		}
	case effSelect:
		if ok {
			ss.key.DB = p.arg
			ss.dedDirty = true
		}
	case effAuth:
		if ok {
			ss.key.User, ss.key.Password = p.key.User, p.key.Password
			ss.dedDirty = true
		}
	}
}

// hold makes sure the client holds a dedicated connection. On failure it writes the
// error as the command's reply and returns false.
func (ss *session) hold(c redcon.Conn) bool {
	if ss.ded != nil {
		return true
	}
	ss.flush(c)
	ded, err := ss.srv.pool.Dedicated(ss.srv.ctx, ss.key)
	if err != nil {
		ss.writeError(c, err)
		return false
	}
	ss.ded = ded
	ss.dedDirty = false
	return true
}

// pin holds a dedicated connection for the rest of the client's life.
func (ss *session) pin(c redcon.Conn) bool {
	if !ss.hold(c) {
		return false
	}
	ss.pinned = true
	return true
}

// maybeRelease gives back the held connection once nothing ties the client to it.
func (ss *session) maybeRelease() {
	if ss.ded == nil || ss.multi || ss.watching || ss.pinned {
		return
	}
	ss.srv.pool.Release(ss.ded, !ss.dedDirty)
	ss.ded = nil
	ss.dedDirty = false
}

// dropHeld closes the held connection (it failed or is in an unknown state).
func (ss *session) dropHeld() {
	if ss.ded != nil {
		ss.srv.pool.Release(ss.ded, false)
	}
	ss.ded = nil
	ss.multi, ss.watching, ss.pinned, ss.dedDirty = false, false, false, false
}

// release frees everything the client held; called when the client is gone.
func (ss *session) release() {
	if ss.ded != nil {
		// A client that leaves inside MULTI or with WATCHed keys leaves the connection
		// dirty: close it rather than hand it to someone else.
		clean := !ss.multi && !ss.watching && !ss.pinned && !ss.dedDirty
		ss.srv.pool.Release(ss.ded, clean)
		ss.ded = nil
	}
}

// blocking runs a blocking command (BLPOP, XREAD BLOCK, WAIT ...) on a connection of
// its own, so it stalls nobody else, and gives the connection up if the client leaves
// while blocked.
func (ss *session) blocking(c redcon.Conn, cmd redcon.Command) {
	ss.flush(c)
	silent := ss.silenceNext()
	up := ss.ded
	borrowed := false
	if up == nil {
		var err error
		up, err = ss.srv.pool.Dedicated(ss.srv.ctx, ss.key)
		if err != nil {
			ss.observeReply([]byte("-"))
			if !silent {
				c.WriteRaw(appendError(nil, err))
			}
			return
		}
		borrowed = true
	}
	up.SetBlocking(true)
	call := ss.call
	err := up.Send(call, 1, cmd.Raw)
	if err == nil {
		gone, stop := watchClose(c.NetConn())
		select {
		case <-call.Done():
		case <-gone:
			up.Close(errors.New("client disconnected while blocked"))
			<-call.Done()
		}
		stop()
		err = call.Err
	}
	up.SetBlocking(false)
	if err != nil {
		ss.observeReply([]byte("-"))
		if !silent {
			c.WriteRaw(appendError(nil, err))
		}
		if borrowed {
			ss.srv.pool.Release(up, false)
		} else {
			ss.dropHeld()
		}
		return
	}
	ss.observeReply(call.Reply(0))
	if !silent {
		c.WriteRaw(call.Reply(0))
	}
	if borrowed {
		ss.srv.pool.Release(up, true)
	}
}

// cmdSelect switches the client's db. Redis checks the index; hotswap asks it by
// opening a connection to that db the first time one is needed.
func (ss *session) cmdSelect(c redcon.Conn, cmd redcon.Command) {
	if len(cmd.Args) != 2 {
		// Redis words the arity error; on a shared connection it has no side effect.
		ss.forward(cmd, effNone)
		return
	}
	db, ok := command.ParseInt(cmd.Args[1])
	if !ok {
		ss.flush(c)
		ss.writeLocal(c, []byte("-ERR value is not an integer or out of range\r\n"))
		return
	}
	if ss.ded != nil { // WATCH or pinned: the held connection switches
		ss.forward(cmd, effSelect)
		ss.segPend[len(ss.segPend)-1].arg = int(db)
		return
	}
	ss.flush(c)
	if db < 0 || db > 1<<31-1 {
		ss.writeLocal(c, []byte("-ERR DB index is out of range\r\n"))
		return
	}
	key := ss.key
	key.DB = int(db)
	if !ss.srv.pool.Known(key) {
		if err := ss.srv.pool.Verify(ss.srv.ctx, key); err != nil {
			ss.writeError(c, err)
			return
		}
	}
	ss.key = key
	ss.writeLocal(c, []byte("+OK\r\n"))
}

// cmdAuth checks credentials with Redis (a new connection authenticates with them)
// and switches the client to that identity.
func (ss *session) cmdAuth(c redcon.Conn, cmd redcon.Command) {
	switch {
	case len(cmd.Args) < 2: // Redis words the arity error
		ss.forward(cmd, effNone)
		return
	case len(cmd.Args) > 3:
		ss.flush(c)
		ss.writeLocal(c, []byte("-ERR syntax error\r\n"))
		return
	}
	key := ss.key
	if len(cmd.Args) == 2 {
		key.User, key.Password = "", string(cmd.Args[1])
	} else {
		key.User, key.Password = string(cmd.Args[1]), string(cmd.Args[2])
	}
	if ss.ded != nil {
		ss.forward(cmd, effAuth)
		ss.segPend[len(ss.segPend)-1].key = key
		return
	}
	ss.flush(c)
	if err := ss.authenticate(key); err != nil {
		ss.writeError(c, err)
		return
	}
	ss.writeLocal(c, []byte("+OK\r\n"))
}

func (ss *session) authenticate(key upstream.Key) error {
	if err := ss.srv.pool.Verify(ss.srv.ctx, key); err != nil {
		return err
	}
	ss.key = key
	return nil
}

// cmdReset is RESET: the client's state back to a fresh connection's.
func (ss *session) cmdReset(c redcon.Conn) {
	ss.flush(c)
	if ss.ded != nil {
		ss.srv.pool.Release(ss.ded, false)
	}
	ss.ded = nil
	ss.multi, ss.watching, ss.pinned, ss.dedDirty = false, false, false, false
	ss.txLocal, ss.txAbort, ss.multiAbort = false, false, false
	clear(ss.txQueue)
	ss.txQueue, ss.dynWatches = ss.txQueue[:0], nil
	ss.key = ss.srv.cfg.Upstream.DefaultKey()
	ss.name, ss.libName, ss.libVer = nil, nil, nil
	ss.replyOff, ss.skipNext = false, false
	ss.writeRaw(c, []byte("+RESET\r\n"))
}

// appendError turns err into an error reply. Errors Redis sent are passed on verbatim.
func appendError(dst []byte, err error) []byte {
	var rerr *resp.Error
	if errors.As(err, &rerr) {
		return resp.AppendError(dst, oneLine(rerr.Msg))
	}
	return resp.AppendError(dst, "ERR hotswap: "+oneLine(err.Error()))
}

func oneLine(s string) string {
	if !bytes.ContainsAny([]byte(s), "\r\n") {
		return s
	}
	b := []byte(s)
	for i, ch := range b {
		if ch == '\r' || ch == '\n' {
			b[i] = ' '
		}
	}
	return string(b)
}
