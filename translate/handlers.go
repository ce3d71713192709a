package translate

// Handler runs one command over a Keyspace and writes its reply. args[0] is the command
// name as the client sent it; the arity was checked against the command table before the
// handler runs. Redis errors are replies (r.Error), never Go errors.
type Handler func(ks *Keyspace, r *Reply, args [][]byte)

// handlerEntry names one translated command (lower case, as in the command table).
type handlerEntry struct {
	name string
	fn   Handler
}

// Handlers returns the table of commands hotswap runs on DynamoDB, by lower-case name.
// It panics on a duplicate name.
func Handlers() map[string]Handler {
	m := map[string]Handler{}
	for _, list := range [][]handlerEntry{stringHandlers, hashHandlers, setHandlers, keyHandlers} {
		for _, h := range list {
			if _, dup := m[h.name]; dup {
				panic("translate: duplicate handler " + h.name)
			}
			m[h.name] = h.fn
		}
	}
	return m
}

// Error replies shared by the handlers, exactly as Redis 7 sends them.
const (
	errWrongType   = "WRONGTYPE Operation against a key holding the wrong kind of value"
	errSyntax      = "ERR syntax error"
	errNotInteger  = "ERR value is not an integer or out of range"
	errNotFloat    = "ERR value is not a valid float"
	errOverflow    = "ERR increment or decrement would overflow"
	errNoSuchKey   = "ERR no such key"
	errHashNotInt  = "ERR hash value is not an integer"
	errHashNotFlt  = "ERR hash value is not a float"
	errIncrNaNInf  = "ERR increment would produce NaN or Infinity"
	errInvalidExp  = "ERR invalid expire time in '%s' command"
	errOutOfRange  = "ERR value is out of range, must be positive"
	errStrTooLarge = "ERR string exceeds maximum allowed size (proto-max-bulk-len)"
)
