package translate

import (
	"strings"

	"hotswap/proxy/command"
)

// Run executes one command over ks: it checks the arity against the command table as
// Redis does, then runs the handler. It reports false, writing nothing, when hotswap
// has no handler for the command.
func Run(ks *Keyspace, r *Reply, handlers map[string]Handler, args [][]byte) bool {
	info := command.Lookup(args)
	if info == nil {
		return false
	}
	h, ok := handlers[info.Name]
	if !ok {
		return false
	}
	if !info.ArityOK(len(args)) {
		r.Error("ERR wrong number of arguments for '" + strings.ToLower(info.Name) + "' command")
		return true
	}
	h(ks, r, args)
	return true
}
