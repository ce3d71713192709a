package command

import (
	"sort"
	"strings"
)

// maxNameLen bounds the command and subcommand names Lookup lower-cases on the stack;
// init checks that every name in the table fits.
const maxNameLen = 64

func init() {
	for name, info := range table {
		prepare(name, info)
		for sub, s := range info.Subcommands {
			prepare(sub, s)
		}
	}
	for i, name := range Names() {
		info := byName(name)
		info.id = i + 1
		byID = append(byID, info)
	}
}

// byID lists the table's Infos by ID-1.
var byID []*Info

// Count is the number of commands and subcommands in the table: IDs are 1..Count().
func Count() int { return len(byID) }

// ByID returns the Info whose ID is id, or nil.
func ByID(id int) *Info {
	if id < 1 || id > len(byID) {
		return nil
	}
	return byID[id-1]
}

// byName finds "cmd" or "cmd|sub" in the table.
func byName(name string) *Info {
	if i := strings.IndexByte(name, '|'); i >= 0 {
		return table[name[:i]].Subcommands[name[i+1:]]
	}
	return table[name]
}

func prepare(key string, info *Info) {
	if len(key) > maxNameLen {
		panic("command: name longer than maxNameLen: " + key)
	}
	info.keys = newKeyMeta(info)
}

// Lookup returns the Info for the command in args (args[0] is the command name, matched
// case-insensitively). For a container command (CONFIG, OBJECT, XINFO, ...) with a known
// subcommand in args[1] it returns the subcommand's Info ("object|encoding"); with no or
// an unknown subcommand, the container's. It returns nil for an unknown command or empty
// args. It does not allocate.
func Lookup(args [][]byte) *Info {
	if len(args) == 0 {
		return nil
	}
	info := lookupIn(table, args[0])
	if info == nil || info.Subcommands == nil || len(args) < 2 {
		return info
	}
	if sub := lookupIn(info.Subcommands, args[1]); sub != nil {
		return sub
	}
	return info
}

// lookupIn looks name up in m, whose keys are lower case, without allocating: the
// m[string(b)] form does not copy b.
func lookupIn(m map[string]*Info, name []byte) *Info {
	lower := true
	for _, c := range name {
		if 'A' <= c && c <= 'Z' {
			lower = false
			break
		}
	}
	if lower {
		return m[string(name)]
	}
	if len(name) > maxNameLen {
		return nil
	}
	var buf [maxNameLen]byte
	for i, c := range name {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	return m[string(buf[:len(name)])]
}

// ArityOK reports whether nargs arguments (the command name included, and for a
// subcommand the container's name too) satisfy the command's arity, by Redis' rule:
// arity N > 0 takes exactly N, -N at least N.
func (i *Info) ArityOK(nargs int) bool {
	if i.Arity >= 0 {
		return i.Arity == 0 || nargs == i.Arity
	}
	return nargs >= -i.Arity
}

// Names returns the names of every command and subcommand ("config|get") in the table,
// sorted.
func Names() []string {
	var names []string
	for name, info := range table {
		names = append(names, name)
		for sub := range info.Subcommands {
			names = append(names, name+"|"+sub)
		}
	}
	sort.Strings(names)
	return names
}
