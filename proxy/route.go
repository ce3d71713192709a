package proxy

import (
	"context"
	"fmt"
	"strings"

	"hotswap/internal/redcon"
	"hotswap/proxy/command"
	"hotswap/resp"
	"hotswap/translate"
)

// routeDynamo runs a command whose keys belong to DynamoDB-authoritative key families
// on the translate engine. It returns false, having done nothing, when the command
// goes to Redis as it is: no engine, another db than 0, no keys, or no key of a family
// served from DynamoDB.
//
// A command whose keys are split between Redis and DynamoDB is split per key when the
// command table says how to merge the replies (MGET, DEL, EXISTS, MSET, ...), and
// refused with an error naming the families otherwise: hotswap never runs part of a
// command in the wrong store.
func (ss *session) routeDynamo(c redcon.Conn, cmd redcon.Command, info *command.Info) bool {
	e := ss.srv.cfg.Engine
	if e == nil || ss.key.DB != 0 || !info.HasKeys() {
		return false
	}
	ss.keyIdx = info.KeyIndexes(cmd.Args, ss.keyIdx[:0])
	if len(ss.keyIdx) == 0 {
		return false
	}
	m := e.Mapping()
	ss.routes = ss.routes[:0]
	nDyn, nCapture := 0, 0
	for _, ki := range ss.keyIdx {
		r, ok, err := m.Route(cmd.Args[ki])
		if err == nil && ok {
			err = ss.srv.stagesReady(&r)
		}
		if err != nil {
			ss.flush(c)
			ss.writeLocal(c, resp.AppendError(nil, oneLine(err.Error())))
			return true
		}
		st := ss.srv.stage(&r)
		if ok {
			ss.noteRoute(&r, st)
		}
		switch {
		case !ok:
			r = translate.Route{} // a Redis key
		case st.DynamoAuthoritative():
			nDyn++
		case isDual(st):
			nCapture++ // a Redis key kept in step with DynamoDB
		default:
			r = translate.Route{} // a family still in Redis only
		}
		ss.routes = append(ss.routes, r)
	}
	var capKeys [][]byte
	var capRoutes []translate.Route
	if nDyn > 0 && nCapture > 0 {
		// Keys on both sides of the authority line: the dual-written ones are Redis
		// keys for this command (split below); a write also captures them, in the
		// same segment as its Redis part.
		write := mayWrite(info)
		if write && ss.srv.cfg.Syncer == nil {
			ss.flush(c)
			ss.writeLocal(c, resp.AppendError(nil, fmt.Sprintf("ERR hotswap: %s names keys served from DynamoDB and keys dual-written from Redis (families %s): no store can run it as one command", strings.ToUpper(info.Name), familyList(ss.routes))))
			return true
		}
		for i := range ss.routes {
			r := &ss.routes[i]
			if r.Family == nil || ss.srv.stage(r).DynamoAuthoritative() {
				continue
			}
			if write {
				capKeys = append(capKeys, append([]byte(nil), cmd.Args[ss.keyIdx[i]]...))
				cr := *r
				cr.Entity = nil
				capRoutes = append(capRoutes, cr)
			}
			*r = translate.Route{}
		}
	}
	if nDyn == 0 {
		if nCapture > 0 && mayWrite(info) && ss.srv.cfg.Syncer != nil {
			ss.forwardCaptured(cmd)
			return true
		}
		if nCapture == len(ss.keyIdx) && ss.shadowed(false) {
			// shadow: Redis answers; the same read on DynamoDB is compared.
			args, keys, routes := ss.copyCmd(cmd.Args)
			ss.forward(cmd, effNone)
			sh := ss.srv.cfg.Shadow
			ss.segPend[len(ss.segPend)-1].onReply = func(reply []byte) {
				sh.Compare(args, info, keys, routes, append([]byte(nil), reply...), true)
			}
			return true
		}
		return false
	}
	ss.flush(c) // replies stay in order: what was queued for Redis goes first
	if nDyn == len(ss.keyIdx) {
		shadow := !mayWrite(info) && ss.shadowed(true)
		reply := ss.execDynamo(cmd.Args, info, ss.keyIdx, ss.routes)
		if shadow {
			// live: DynamoDB answered; the same read on Redis is compared.
			args, keys, routes := ss.copyCmd(cmd.Args)
			ss.srv.cfg.Shadow.Compare(args, info, keys, routes, append([]byte(nil), reply...), false)
		}
		ss.writeLocal(c, reply)
		return true
	}
	ss.writeLocal(c, ss.split(cmd.Args, info, capKeys, capRoutes))
	return true
}

func familyList(routes []translate.Route) string {
	seen := map[string]bool{}
	var out []string
	for _, r := range routes {
		if r.Family != nil && !seen[r.Family.Name] {
			seen[r.Family.Name] = true
			out = append(out, r.Family.Name)
		}
	}
	return strings.Join(out, ", ")
}

// shadowed reports whether this read is compared with the other store: every key in
// the comparing stage (shadow for Redis' reads, live for DynamoDB's) and sampled.
func (ss *session) shadowed(dynamo bool) bool {
	sh := ss.srv.cfg.Shadow
	if sh == nil {
		return false
	}
	want := translate.StageShadow
	if dynamo {
		want = translate.StageLive
	}
	for _, r := range ss.routes {
		if r.Family == nil || ss.srv.stage(&r) != want {
			return false
		}
	}
	return sh.Sample()
}

// copyCmd copies a command's arguments, key positions and routes for work that
// outlives the batch.
func (ss *session) copyCmd(in [][]byte) ([][]byte, []int, []translate.Route) {
	args := make([][]byte, len(in))
	for i, a := range in {
		args[i] = append([]byte(nil), a...)
	}
	keys := append([]int(nil), ss.keyIdx...)
	routes := append([]translate.Route(nil), ss.routes...)
	for i := range routes {
		routes[i].Entity = nil
	}
	return args, keys, routes
}

// mayWrite: the command can change keys: write commands, and scripts and functions
// (EVAL, FCALL), which carry no write flag but whose key specs say RW.
func mayWrite(info *command.Info) bool {
	if info.Has(command.Write) {
		return true
	}
	for i := range info.Keys {
		if k := &info.Keys[i]; k.HasFlag("RW") || k.HasFlag("OW") || k.HasFlag("RM") {
			return true
		}
	}
	return false
}

// isDual: the keys live in Redis and are copied to DynamoDB on every write (the
// dualwrite and shadow stages).
func isDual(st translate.Stage) bool {
	return st == translate.StageDualWrite || st == translate.StageShadow
}

// StageSource gives the stage of a family's entity (package flags); see Config.Stages.
type StageSource interface {
	Stage(ctx context.Context, f *translate.Family, entity []byte) translate.Stage
	// Ready is nil once the flags have loaded. Before that no family key is served:
	// a stage read from nothing could put an entity back on the wrong store.
	Ready() error
}

// Holder is implemented by stage sources that pause an entity's commands while its
// authority moves between Redis and DynamoDB (fleet.Fence). Hold returns nil at
// once when nothing is paused; otherwise it waits, and returns an error (a Redis
// error text) when the pause outlasts its limit.
type Holder interface {
	Hold(ctx context.Context, f *translate.Family, entity []byte) error
}

// stagesReady is nil when the stage of r's entity can be known and served now: no
// flag source, or flags loaded and the entity not paused by the fleet fence.
func (s *Server) stagesReady(r *translate.Route) error {
	if s.cfg.Stages == nil {
		return nil
	}
	if err := s.cfg.Stages.Ready(); err != nil {
		return fmt.Errorf("ERR hotswap: the stage flags have not loaded, so commands on key families wait for them: %w", err)
	}
	if h, ok := s.cfg.Stages.(Holder); ok {
		return h.Hold(s.ctx, r.Family, r.Entity)
	}
	return nil
}

// stage is the stage a key's entity is served at now: from the flags, or the
// family's floor without them; a key of no family is off.
func (s *Server) stage(r *translate.Route) translate.Stage {
	if r.Family == nil {
		return translate.StageOff
	}
	if s.cfg.Stages != nil {
		return s.cfg.Stages.Stage(s.ctx, r.Family, r.Entity)
	}
	return r.Family.Floor
}

// forwardCaptured forwards a write on keys of dual-written families followed, in the
// same segment, by the capture of those keys' state (dual.Syncer.Capture): the sync
// intent reaches Redis with the write, and the capture's reply queues the copies to
// DynamoDB off the reply path.
func (ss *session) forwardCaptured(cmd redcon.Command) {
	var keys [][]byte
	var routes []translate.Route
	for i, ki := range ss.keyIdx {
		if ss.routes[i].Family == nil {
			continue
		}
		keys = append(keys, append([]byte(nil), cmd.Args[ki]...))
		r := ss.routes[i]
		r.Entity = nil // the Syncer keeps routes; it needs the family and item key only
		routes = append(routes, r)
	}
	ss.forward(cmd, effNone)
	ss.forwardSync(keys, routes)
}

// forwardSync appends the capture of keys to the segment.
func (ss *session) forwardSync(keys [][]byte, routes []translate.Route) {
	sy := ss.srv.cfg.Syncer
	token := sy.Token()
	sy.Begin(keys) // in flight until Redis has run the write and its capture
	ss.forwardRaw(sy.Capture(keys, token), effNone, true)
	ss.segPend[len(ss.segPend)-1].onReply = func(reply []byte) {
		sy.Captured(keys, routes, token, reply)
		sy.End(keys)
	}
}

// servedFromDynamo reports whether a key's entity is served from DynamoDB first
// now (a DynamoDB-authoritative stage). The whole-keyspace commands (keyspace.go) go
// by it, so a family the flags split between the stores is listed entity by entity
// from the store that is authoritative for it.
func (s *Server) servedFromDynamo(r *translate.Route) bool {
	return r.Family != nil && s.stage(r).DynamoAuthoritative()
}

// StageRanger is implemented by stage sources that know the highest stage any
// entity of a family can be at (fleet.Fence, from the flag definitions), so the
// whole-keyspace commands skip DynamoDB for families entirely in Redis.
type StageRanger interface {
	MaxStage(f *translate.Family) translate.Stage
}

// mayServeDynamo reports whether some entity of f may be served from DynamoDB.
func (s *Server) mayServeDynamo(f *translate.Family) bool {
	if f.Floor.DynamoAuthoritative() {
		return true
	}
	if s.cfg.Stages == nil {
		return false
	}
	if r, ok := s.cfg.Stages.(StageRanger); ok {
		return r.MaxStage(f).DynamoAuthoritative()
	}
	return true
}

// isCopied: DynamoDB is authoritative and Redis keeps a copy (live, rampdown).
func isCopied(st translate.Stage) bool {
	return st == translate.StageLive || st == translate.StageRampDown
}

func (ss *session) proto() int {
	if ss.key.Proto == 3 {
		return 3
	}
	return 2
}

func (ss *session) execDynamo(args [][]byte, info *command.Info, keys []int, routes []translate.Route) []byte {
	ctx := ss.cmdCtx()
	ss.dynCmd = translate.Cmd{Args: args, Info: info, Keys: keys, Routes: routes}
	if sy := ss.srv.cfg.Syncer; sy != nil && mayWrite(info) {
		// live, rampdown: the intent first (write-ahead), then the copies of what the
		// commit wrote, off the reply path.
		var wk [][]byte
		var wr []translate.Route
		for i, ki := range keys {
			if isCopied(ss.srv.stage(&routes[i])) {
				wk = append(wk, args[ki])
				wr = append(wr, routes[i])
			}
		}
		if len(wk) > 0 {
			sy.Begin(wk) // in flight until the DynamoDB write has answered
			defer sy.End(wk)
			token, err := sy.Intent(ctx, wk, wr)
			if err != nil {
				ss.srv.log.Warn("sync intent not journalled (Redis unreachable): the keys are remembered for the repairer", "err", err)
			}
			ss.dynCmd.OnWrite = func(key []byte, r *translate.Route, v *translate.Value, version int64) {
				if isCopied(ss.srv.stage(r)) {
					sy.Written(key, r, v, version, token)
				}
			}
		}
	}
	ss.dynBuf = ss.srv.cfg.Engine.Exec(ctx, ss.proto(), &ss.dynCmd, ss.dynBuf[:0])
	return ss.dynBuf
}

// split runs a command whose keys are in both stores as one command per store and
// merges the replies in the original key order, as the command table says.
func (ss *session) split(args [][]byte, info *command.Info, capKeys [][]byte, capRoutes []translate.Route) []byte {
	name := strings.ToUpper(info.Name)
	families := map[string]bool{}
	for _, r := range ss.routes {
		if r.Family != nil {
			families[r.Family.Name] = true
		}
	}
	var fams []string
	for f := range families {
		fams = append(fams, f)
	}
	refuse := func(why string) []byte {
		return resp.AppendError(nil, fmt.Sprintf("ERR hotswap: %s names keys in Redis and in DynamoDB (family %s): %s", name, strings.Join(fams, ", "), why))
	}
	if !info.ArityOK(len(args)) {
		return resp.AppendError(nil, "ERR wrong number of arguments for '"+info.Name+"' command")
	}
	width := 1 // arguments per key: MSET takes key value pairs
	switch info.Merge {
	case command.MergeSum, command.MergeJoin:
	case command.MergeAllOK:
		if info.Name != "mset" {
			return refuse("it cannot be split")
		}
		width = 2
		if (len(args)-1)%2 != 0 {
			return resp.AppendError(nil, "ERR wrong number of arguments for 'mset' command")
		}
	default:
		return refuse("it cannot be split across stores")
	}
	keys := append([]int(nil), ss.keyIdx...)
	routes := append([]translate.Route(nil), ss.routes...)
	// One sub-command per store, keys in their original order.
	redisArgs := [][]byte{args[0]}
	dynArgs := [][]byte{args[0]}
	var dynKeys []int
	var dynRoutes []translate.Route
	for i, ki := range keys {
		if routes[i].Family == nil {
			redisArgs = append(redisArgs, args[ki:ki+width]...)
			continue
		}
		dynKeys = append(dynKeys, len(dynArgs))
		dynRoutes = append(dynRoutes, routes[i])
		dynArgs = append(dynArgs, args[ki:ki+width]...)
	}
	var rv resp.Value
	var err error
	if sy := ss.srv.cfg.Syncer; len(capKeys) > 0 && sy != nil {
		// The Redis part and the capture of its dual-written keys go together, so
		// the sync intent reaches Redis with the write (as forwardCaptured).
		token := sy.Token()
		req := resp.AppendCommand(nil, redisArgs...)
		req = append(req, sy.Capture(capKeys, token)...)
		sy.Begin(capKeys)
		var vs []resp.Value
		if vs, err = ss.roundTripN(req, 2); err == nil {
			rv = vs[0]
			sy.Captured(capKeys, capRoutes, token, resp.AppendValue(nil, vs[1]))
		}
		sy.End(capKeys)
	} else {
		rv, err = ss.roundTrip(resp.AppendCommand(nil, redisArgs...))
	}
	if err != nil {
		return appendError(nil, err)
	}
	dynReply := append([]byte(nil), ss.execDynamo(dynArgs, info, dynKeys, dynRoutes)...)
	dv, _, err := resp.Parse(dynReply)
	if err != nil {
		return resp.AppendError(nil, "ERR hotswap: cannot merge the replies of "+name)
	}
	if rv.IsError() {
		return resp.AppendValue(nil, rv)
	}
	if dv.IsError() {
		return dynReply
	}
	switch info.Merge {
	case command.MergeSum:
		return resp.AppendInt(nil, rv.Int+dv.Int)
	case command.MergeAllOK:
		return []byte("+OK\r\n")
	}
	// MergeJoin (MGET): interleave the elements back into key order.
	out := resp.AppendArrayHeader(nil, len(keys))
	ri, di := 0, 0
	for i := range keys {
		var v resp.Value
		if routes[i].Family == nil {
			if ri < len(rv.Elems) {
				v = rv.Elems[ri]
			}
			ri++
		} else {
			if di < len(dv.Elems) {
				v = dv.Elems[di]
			}
			di++
		}
		out = resp.AppendValue(out, v)
	}
	return out
}

// refuseInMulti answers, inside a MULTI held on Redis, a command on keys of a family
// served from DynamoDB: Redis would run it on the wrong store, so hotswap refuses it
// as Redis refuses a bad command at queue time, and EXEC then aborts the transaction.
func (ss *session) refuseInMulti(c redcon.Conn, cmd redcon.Command, info *command.Info) bool {
	e := ss.srv.cfg.Engine
	if e == nil || info == nil || ss.key.DB != 0 || !info.HasKeys() {
		return false
	}
	ss.keyIdx = info.KeyIndexes(cmd.Args, ss.keyIdx[:0])
	for _, ki := range ss.keyIdx {
		r, ok, err := e.Mapping().Route(cmd.Args[ki])
		if err == nil && (!ok || !ss.srv.stage(&r).DynamoAuthoritative()) {
			continue
		}
		msg := ""
		if err != nil {
			msg = err.Error()
		} else {
			msg = fmt.Sprintf("ERR hotswap: %s inside MULTI on keys of DynamoDB family %s is not supported yet", strings.ToUpper(info.Name), r.Family.Name)
		}
		ss.flush(c)
		ss.multiAbort = true
		ss.writeLocal(c, resp.AppendError(nil, msg))
		return true
	}
	return false
}
