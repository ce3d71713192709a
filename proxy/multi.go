package proxy

import (
	"bytes"
	"fmt"
	"strings"

	"hotswap/internal/redcon"
	"hotswap/proxy/command"
	"hotswap/resp"
	"hotswap/translate"
)

// Transactions when key families are served from DynamoDB.
//
// Which store a transaction runs on is known only at EXEC, once every queued command
// is in, so with an engine configured (and db 0) hotswap queues MULTI itself: it
// answers +QUEUED, or the error Redis gives at queue time (unknown command, wrong
// arity), and at EXEC:
//   - commands on Redis keys only (or no keys) are replayed on a held connection as
//     MULTI ... EXEC, and Redis' EXEC reply is the reply;
//   - commands on DynamoDB keys only run as one DynamoDB transaction
//     (translate.Engine.ExecMulti);
//   - a mix is refused: no store can run it atomically.
//
// WATCH of a DynamoDB key records the item's version; EXEC returns a null array if it
// changed, as Redis does. WATCH of a Redis key goes to Redis as before.

// queued is one command of a MULTI that hotswap holds.
type queued struct {
	raw  []byte
	args [][]byte
	info *command.Info
}

// localTx reports whether this client's transactions are queued by hotswap.
func (ss *session) localTx() bool {
	return ss.srv.cfg.Engine != nil && ss.key.DB == 0 && !ss.multi
}

// beginLocal answers MULTI.
func (ss *session) beginLocal(c redcon.Conn) {
	ss.flush(c)
	ss.txLocal = true
	ss.txAbort = false
	ss.txQueue = ss.txQueue[:0]
	ss.writeLocal(c, []byte("+OK\r\n"))
}

// queueLocal handles a command sent inside a MULTI that hotswap holds.
func (ss *session) queueLocal(c redcon.Conn, cmd redcon.Command, info *command.Info) {
	ss.flush(c)
	if info == nil {
		ss.txAbort = true
		ss.writeLocal(c, unknownCommand(cmd.Args))
		return
	}
	if !info.ArityOK(len(cmd.Args)) {
		ss.txAbort = true
		ss.writeLocal(c, resp.AppendError(nil, "ERR wrong number of arguments for '"+info.Name+"' command"))
		return
	}
	switch info.Name {
	case "exec":
		ss.execLocal(c)
		return
	case "discard":
		ss.endLocal(c)
		ss.writeLocal(c, []byte("+OK\r\n"))
		return
	case "multi":
		ss.writeLocal(c, []byte("-ERR MULTI calls can not be nested\r\n"))
		return
	case "watch":
		ss.writeLocal(c, []byte("-ERR WATCH inside MULTI is not allowed\r\n"))
		return
	}
	q := queued{raw: append([]byte(nil), cmd.Raw...), info: info}
	q.args = make([][]byte, len(cmd.Args))
	for i, a := range cmd.Args {
		q.args[i] = append([]byte(nil), a...)
	}
	ss.txQueue = append(ss.txQueue, q)
	ss.writeLocal(c, []byte("+QUEUED\r\n"))
}

// endLocal ends a held transaction and forgets every WATCH, as EXEC and DISCARD do.
func (ss *session) endLocal(c redcon.Conn) {
	ss.txLocal, ss.txAbort = false, false
	clear(ss.txQueue)
	ss.txQueue = ss.txQueue[:0]
	ss.dynWatches = nil
	if ss.watching && ss.ded != nil {
		if _, err := ss.roundTrip(resp.AppendCommandString(nil, "UNWATCH")); err != nil {
			ss.dropHeld()
		}
		ss.watching = false
		ss.maybeRelease()
	}
}

// execLocal answers EXEC of a transaction hotswap held.
func (ss *session) execLocal(c redcon.Conn) {
	if ss.txAbort {
		ss.endLocal(c)
		ss.writeLocal(c, []byte("-EXECABORT Transaction discarded because of previous errors.\r\n"))
		return
	}
	e := ss.srv.cfg.Engine
	var dyn []*translate.Cmd
	var redisCmds, keyless []string
	fams := map[string]bool{}
	for i := range ss.txQueue {
		q := &ss.txQueue[i]
		keys := q.info.KeyIndexes(q.args, nil)
		var routes []translate.Route
		nd := 0
		for _, ki := range keys {
			r, ok, err := e.Mapping().Route(q.args[ki])
			if err == nil && ok {
				err = ss.srv.stagesReady(&r)
			}
			if err != nil {
				ss.endLocal(c)
				ss.writeLocal(c, resp.AppendError(nil, err.Error()))
				return
			}
			if ok && ss.srv.stage(&r).DynamoAuthoritative() {
				nd++
				fams[r.Family.Name] = true
			}
			routes = append(routes, r)
		}
		switch {
		case len(keys) == 0 && isKeyspaceCmd(q.info.Name) && ss.srv.anyServed(e.Mapping()):
			// Replayed on Redis, it would only see (or flush) the keys in Redis.
			name := strings.ToUpper(q.info.Name)
			ss.endLocal(c) // clears the queue, q included
			ss.writeLocal(c, resp.AppendError(nil, "ERR hotswap: "+name+" inside MULTI would only see the keys in Redis while key families are served from DynamoDB; nothing was applied"))
			return
		case len(keys) == 0:
			keyless = append(keyless, strings.ToUpper(q.info.Name))
		case nd == len(keys):
			dyn = append(dyn, &translate.Cmd{Args: q.args, Info: q.info, Keys: keys, Routes: routes})
		case nd == 0:
			redisCmds = append(redisCmds, strings.ToUpper(q.info.Name))
		default:
			redisCmds = append(redisCmds, strings.ToUpper(q.info.Name))
			dyn = append(dyn, nil) // counted as both: refused below
		}
	}
	famList := make([]string, 0, len(fams))
	for f := range fams {
		famList = append(famList, f)
	}
	if len(dyn) > 0 && (len(redisCmds) > 0 || len(keyless) > 0) {
		what := append(redisCmds, keyless...)
		ss.endLocal(c)
		ss.writeLocal(c, resp.AppendError(nil, fmt.Sprintf("ERR hotswap: a transaction on keys of DynamoDB family %s cannot also run %s (keys in Redis, or no keys): no store can run it atomically; nothing was applied", strings.Join(famList, ", "), strings.Join(what, ", "))))
		return
	}
	if len(dyn) > 0 {
		if ss.watching && !ss.redisWatchesHold() {
			ss.endLocal(c)
			ss.writeLocal(c, nullArray(ss.proto()))
			return
		}
		if sy := ss.srv.cfg.Syncer; sy != nil {
			// live, rampdown: journal the keys the transaction writes, then copy
			// what it committed to Redis.
			var wk [][]byte
			var wr []translate.Route
			for _, d := range dyn {
				if !mayWrite(d.Info) {
					continue
				}
				for i, ki := range d.Keys {
					if isCopied(ss.srv.stage(&d.Routes[i])) {
						wk = append(wk, d.Args[ki])
						wr = append(wr, d.Routes[i])
					}
				}
			}
			if len(wk) > 0 {
				sy.Begin(wk) // in flight until the transaction has answered
				defer sy.End(wk)
				token, err := sy.Intent(ss.srv.ctx, wk, wr)
				if err != nil {
					ss.srv.log.Warn("sync intent not journalled (Redis unreachable): the keys are remembered for the repairer", "err", err)
				}
				dyn[0].OnWrite = func(key []byte, r *translate.Route, v *translate.Value, version int64) {
					if isCopied(ss.srv.stage(r)) {
						sy.Written(key, r, v, version, token)
					}
				}
			}
		}
		reply := e.ExecMulti(ss.srv.ctx, ss.proto(), dyn, ss.dynWatches, nil)
		ss.endLocal(c)
		ss.writeLocal(c, reply)
		return
	}
	// Redis only: the DynamoDB watches first, then replay on a held connection.
	if len(ss.dynWatches) > 0 {
		ok, err := e.WatchesHold(ss.srv.ctx, ss.dynWatches)
		if err != nil || !ok {
			ss.endLocal(c)
			if err != nil {
				ss.writeLocal(c, resp.AppendError(nil, "ERR hotswap: "+oneLine(err.Error())))
				return
			}
			ss.writeLocal(c, nullArray(ss.proto()))
			return
		}
	}
	queue := ss.txQueue
	ss.txLocal = false
	ss.dynWatches = nil
	if !ss.hold(c) {
		ss.endLocal(c)
		return
	}
	ss.forwardRaw([]byte("*1\r\n$5\r\nMULTI\r\n"), effMulti, true)
	for i := range queue {
		ss.forwardRaw(queue[i].raw, effNone, true)
		if n := queue[i].info.Name; n == "select" || n == "auth" || n == "hello" || n == "swapdb" {
			ss.pinned, ss.dedDirty = true, true
		}
	}
	ss.forwardRaw([]byte("*1\r\n$4\r\nEXEC\r\n"), effExec, ss.silenceNext())
	if keys, routes := ss.dualKeys(queue); len(keys) > 0 {
		// The writes of the transaction on dual-written keys: their state after EXEC
		// (unchanged if EXEC aborted) goes to DynamoDB.
		ss.forwardSync(keys, routes)
	}
	ss.flush(c)
	clear(queue)
	ss.txQueue = queue[:0]
}

// redisWatchesHold asks Redis whether the keys this client WATCHes there are
// unchanged: an empty MULTI/EXEC on the held connection returns a null array if not.
// It also ends the WATCH on Redis, as EXEC does.
func (ss *session) redisWatchesHold() bool {
	if _, err := ss.roundTrip(resp.AppendCommandString(nil, "MULTI")); err != nil {
		ss.dropHeld()
		return false
	}
	v, err := ss.roundTrip(resp.AppendCommandString(nil, "EXEC"))
	ss.watching = false
	if err != nil {
		ss.dropHeld()
		return false
	}
	ss.maybeRelease()
	return !v.Null
}

// forwardRaw appends raw bytes bound for the held (or shared) connection, with an
// effect and the reply dropped when silent.
func (ss *session) forwardRaw(raw []byte, eff effect, silent bool) {
	target := ss.ded
	if target != ss.segConn || len(ss.segPend) == 0 {
		if len(ss.segPend) > 0 {
			ss.flush(ss.conn)
		}
		ss.segConn = target
	}
	ss.seg = append(ss.seg, raw...)
	p := pend{eff: eff, silent: silent}
	if !silent {
		p.obs = ss.takeCmd() // EXEC of a held transaction: the client's command
	}
	ss.segPend = append(ss.segPend, p)
}

// watchLocal handles WATCH when an engine is configured: DynamoDB keys have their
// versions recorded, Redis keys are watched on Redis.
func (ss *session) watchLocal(c redcon.Conn, cmd redcon.Command, info *command.Info) bool {
	e := ss.srv.cfg.Engine
	keys := info.KeyIndexes(cmd.Args, nil)
	var dynKeys, redisKeys [][]byte
	var routes []translate.Route
	for _, ki := range keys {
		r, ok, err := e.Mapping().Route(cmd.Args[ki])
		if err != nil {
			ss.flush(c)
			ss.writeLocal(c, resp.AppendError(nil, err.Error()))
			return true
		}
		if ok && ss.srv.stage(&r).DynamoAuthoritative() {
			dynKeys = append(dynKeys, cmd.Args[ki])
			routes = append(routes, r)
		} else {
			redisKeys = append(redisKeys, cmd.Args[ki])
		}
	}
	if len(dynKeys) == 0 {
		return false // Redis keys only: forwarded as before
	}
	ss.flush(c)
	ws, err := e.Watch(ss.srv.ctx, dynKeys, routes)
	if err != nil {
		ss.writeLocal(c, resp.AppendError(nil, "ERR hotswap: "+oneLine(err.Error())))
		return true
	}
	if len(redisKeys) > 0 {
		if !ss.hold(c) {
			return true
		}
		v, err := ss.roundTrip(resp.AppendCommand(nil, append([][]byte{cmd.Args[0]}, redisKeys...)...))
		if err != nil {
			ss.writeError(c, err)
			return true
		}
		if v.IsError() {
			ss.writeLocal(c, resp.AppendValue(nil, v))
			return true
		}
		ss.watching = true
	}
	ss.dynWatches = append(ss.dynWatches, ws...)
	ss.writeLocal(c, []byte("+OK\r\n"))
	return true
}

func nullArray(proto int) []byte {
	if proto == 3 {
		return []byte("_\r\n")
	}
	return []byte("*-1\r\n")
}

// unknownCommand is Redis 7's reply to a command it does not know.
func unknownCommand(args [][]byte) []byte {
	var a bytes.Buffer
	for i := 1; i < len(args) && a.Len() < 128; i++ {
		room := 128 - a.Len()
		arg := args[i]
		if len(arg) > room {
			arg = arg[:room]
		}
		a.WriteByte('\'')
		a.Write(arg)
		a.WriteString("' ")
	}
	name := args[0]
	if len(name) > 128 {
		name = name[:128]
	}
	msg := "ERR unknown command '" + string(name) + "', with args beginning with: " + a.String()
	return resp.AppendError(nil, oneLine(msg))
}

// isKeyspaceCmd: the commands over the whole keyspace, which span both stores.
func isKeyspaceCmd(name string) bool {
	switch name {
	case "scan", "keys", "dbsize", "randomkey", "flushdb", "flushall":
		return true
	}
	return false
}

// dualKeys lists the keys of dual-written families that the queued writes name, once
// each, copied.
func (ss *session) dualKeys(queue []queued) ([][]byte, []translate.Route) {
	e := ss.srv.cfg.Engine
	if e == nil || ss.srv.cfg.Syncer == nil {
		return nil, nil
	}
	var keys [][]byte
	var routes []translate.Route
	seen := map[string]bool{}
	for i := range queue {
		q := &queue[i]
		if !mayWrite(q.info) {
			continue
		}
		for _, ki := range q.info.KeyIndexes(q.args, nil) {
			k := q.args[ki]
			r, ok, err := e.Mapping().Route(k)
			if err != nil || !ok || !isDual(ss.srv.stage(&r)) || seen[string(k)] {
				continue
			}
			seen[string(k)] = true
			r.Entity = nil
			keys = append(keys, append([]byte(nil), k...))
			routes = append(routes, r)
		}
	}
	return keys, routes
}
