package proxy

import (
	"bytes"
	"strconv"

	"hotswap/internal/redcon"
	"hotswap/proxy/command"
	"hotswap/proxy/upstream"
	"hotswap/resp"
)

// Connection-level commands hotswap answers from its own per-client state, because
// the upstream connection underneath is shared. Where Redis must word an error (wrong
// arity, a subcommand the upstream version lacks), the command is forwarded instead:
// on a shared connection such a command fails without side effects.

// errNameChars is Redis' own wording, sent as it is.
const errNameChars = "ERR Client names cannot contain spaces, newlines or special characters."

// cmdClient handles CLIENT subcommands. It returns false if the client is gone.
func (ss *session) cmdClient(c redcon.Conn, cmd redcon.Command, info *command.Info) bool {
	if !info.ArityOK(len(cmd.Args)) {
		ss.forward(cmd, effNone)
		return true
	}
	switch info.Name {
	case "client|id":
		ss.flush(c)
		ss.writeLocal(c, resp.AppendInt(nil, ss.id))
	case "client|getname":
		ss.flush(c)
		if len(ss.name) == 0 {
			ss.writeLocal(c, ss.null())
		} else {
			ss.writeLocal(c, resp.AppendBulk(nil, ss.name))
		}
	case "client|setname":
		ss.flush(c)
		if !validName(cmd.Args[2]) {
			ss.writeLocal(c, resp.AppendError(nil, errNameChars))
			return true
		}
		ss.name = append(ss.name[:0], cmd.Args[2]...)
		ss.writeLocal(c, []byte("+OK\r\n"))
	case "client|setinfo":
		ss.flush(c)
		ss.cmdSetInfo(c, cmd)
	case "client|reply":
		mode := cmd.Args[2]
		switch {
		case bytes.EqualFold(mode, []byte("on")):
			ss.flush(c)
			ss.replyOff, ss.skipNext = false, false
			ss.writeRaw(c, []byte("+OK\r\n"))
		case bytes.EqualFold(mode, []byte("off")):
			ss.flush(c)
			ss.replyOff = true
		case bytes.EqualFold(mode, []byte("skip")):
			ss.flush(c)
			if !ss.replyOff {
				ss.skipNext = true
			}
		default: // Redis words the syntax error; nothing changes
			ss.forward(cmd, effNone)
		}
	case "client|tracking":
		ss.flush(c)
		if bytes.EqualFold(cmd.Args[2], []byte("off")) && len(cmd.Args) == 3 {
			ss.writeLocal(c, []byte("+OK\r\n"))
			return true
		}
		ss.writeLocal(c, resp.AppendError(nil, "ERR hotswap: CLIENT TRACKING is not supported through hotswap: client-side caching needs a direct connection to Redis"))
	case "client|no-evict", "client|no-touch":
		// Per-connection modes: the client gets a connection of its own for good.
		if !ss.pin(c) {
			return true
		}
		ss.forward(cmd, effNone)
	default:
		ss.forward(cmd, effNone)
	}
	return true
}

func validName(b []byte) bool {
	for _, ch := range b {
		if ch < '!' || ch > '~' {
			return false
		}
	}
	return true
}

// cmdSetInfo is CLIENT SETINFO (Redis 7.2+; with an older upstream the command table
// has no such subcommand and the command is forwarded for Redis to refuse).
func (ss *session) cmdSetInfo(c redcon.Conn, cmd redcon.Command) {
	attr, val := cmd.Args[2], cmd.Args[3]
	var dst *[]byte
	switch {
	case bytes.EqualFold(attr, []byte("lib-name")):
		dst = &ss.libName
	case bytes.EqualFold(attr, []byte("lib-ver")):
		dst = &ss.libVer
	default:
		ss.writeLocal(c, resp.AppendError(nil, "ERR Unrecognized option '"+string(attr)+"'"))
		return
	}
	if !validName(val) {
		ss.writeLocal(c, resp.AppendError(nil, "ERR "+string(bytes.ToLower(attr))+" cannot contain spaces, newlines or special characters."))
		return
	}
	*dst = append((*dst)[:0], val...)
	ss.writeLocal(c, []byte("+OK\r\n"))
}

// cmdHello is HELLO [protover [AUTH user pass] [SETNAME name]]. The protocol is per
// client: a client that says HELLO 3 is served by upstream connections that said
// HELLO 3 too, so RESP3 replies travel end to end unchanged.
func (ss *session) cmdHello(c redcon.Conn, cmd redcon.Command) {
	ss.flush(c)
	args := cmd.Args
	next := 1
	proto := ss.key.Proto
	if len(args) >= 2 {
		ver, ok := command.ParseInt(args[1])
		if !ok {
			ss.writeLocal(c, []byte("-ERR Protocol version is not an integer or out of range\r\n"))
			return
		}
		if ver != 2 && ver != 3 {
			ss.writeLocal(c, []byte("-NOPROTO unsupported protocol version\r\n"))
			return
		}
		proto = int(ver)
		next = 2
	}
	var key *upstream.Key
	var name []byte
	for j := next; j < len(args); j++ {
		more := len(args) - 1 - j
		switch {
		case bytes.EqualFold(args[j], []byte("auth")) && more >= 2:
			k := ss.key
			k.User, k.Password = string(args[j+1]), string(args[j+2])
			key = &k
			j += 2
		case bytes.EqualFold(args[j], []byte("setname")) && more >= 1:
			if !validName(args[j+1]) {
				ss.writeLocal(c, resp.AppendError(nil, errNameChars))
				return
			}
			name = args[j+1]
			if name == nil {
				name = []byte{}
			}
			j++
		default:
			ss.writeLocal(c, resp.AppendError(nil, "ERR Syntax error in HELLO option '"+string(args[j])+"'"))
			return
		}
	}
	if key != nil {
		key.Proto = proto
		if err := ss.switchUser(*key); err != nil {
			ss.writeError(c, err)
			return
		}
	} else if proto != ss.key.Proto {
		if err := ss.switchProto(proto); err != nil {
			ss.writeError(c, err)
			return
		}
	}
	if name != nil {
		ss.name = append(ss.name[:0], name...)
	}
	// The server facts (version, mode, role, modules) come from Redis; the id is ours.
	v, err := ss.roundTrip(resp.AppendCommandString(nil, "HELLO"))
	if err != nil {
		ss.writeError(c, err)
		return
	}
	if e := v.Err(); e != nil {
		ss.writeError(c, e)
		return
	}
	for i := 0; i+1 < len(v.Elems); i += 2 {
		if string(v.Elems[i].Str) == "id" {
			v.Elems[i+1] = resp.Value{Type: ':', Int: ss.id}
		}
	}
	ss.writeLocal(c, resp.AppendValue(nil, v))
}

// switchUser authenticates as key: on the held connection if there is one, else by
// having Redis check the credentials on a new connection.
func (ss *session) switchUser(key upstream.Key) error {
	if ss.ded == nil {
		return ss.authenticate(key)
	}
	v, err := ss.roundTrip(resp.AppendCommandString(nil, "HELLO", strconv.Itoa(key.Proto), "AUTH", key.User, key.Password))
	if err != nil {
		return err
	}
	if e := v.Err(); e != nil {
		return e
	}
	ss.key.User, ss.key.Password, ss.key.Proto = key.User, key.Password, key.Proto
	ss.dedDirty = true
	return nil
}

// switchProto moves the client to RESP2 or RESP3: on the held connection if there is
// one, else to upstream connections that speak it.
func (ss *session) switchProto(proto int) error {
	if ss.ded != nil {
		v, err := ss.roundTrip(resp.AppendCommandString(nil, "HELLO", strconv.Itoa(proto)))
		if err != nil {
			return err
		}
		if e := v.Err(); e != nil {
			return e
		}
		ss.key.Proto = proto
		ss.dedDirty = true
		return nil
	}
	key := ss.key
	key.Proto = proto
	if !ss.srv.pool.Known(key) {
		if err := ss.srv.pool.Verify(ss.srv.ctx, key); err != nil {
			return err
		}
	}
	ss.key = key
	return nil
}

// null is the null reply in the client's protocol.
func (ss *session) null() []byte {
	if ss.key.Proto == 3 {
		return []byte("_\r\n")
	}
	return []byte("$-1\r\n")
}

// roundTrip sends one command hotswap itself needs answered, on the held connection
// or a shared one, and decodes the reply. The segment must have been flushed.
// roundTripN sends req, which holds n commands, in one write and returns their n
// replies.
func (ss *session) roundTripN(req []byte, n int) ([]resp.Value, error) {
	up := ss.ded
	if up == nil {
		var err error
		if up, err = ss.srv.pool.Shared(ss.srv.ctx, ss.key); err != nil {
			return nil, err
		}
	}
	call := ss.call
	if err := up.Send(call, n, req); err != nil {
		return nil, err
	}
	<-call.Done()
	if call.Err != nil {
		return nil, call.Err
	}
	out := make([]resp.Value, n)
	for i := range n {
		v, _, err := resp.Parse(call.Reply(i))
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

func (ss *session) roundTrip(req []byte) (resp.Value, error) {
	up := ss.ded
	if up == nil {
		var err error
		if up, err = ss.srv.pool.Shared(ss.srv.ctx, ss.key); err != nil {
			return resp.Value{}, err
		}
	}
	call := ss.call
	if err := up.Send(call, 1, req); err != nil {
		return resp.Value{}, err
	}
	<-call.Done()
	if call.Err != nil {
		return resp.Value{}, call.Err
	}
	v, _, err := resp.Parse(call.Reply(0))
	return v, err
}
