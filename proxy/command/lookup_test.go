package command

import (
	"slices"
	"testing"
)

func TestLookup(t *testing.T) {
	tests := []struct {
		args string
		want string // Info.Name, "" for nil
	}{
		{"GET k", "get"},
		{"get k", "get"},
		{"GeT k", "get"},
		{"MGET a b c", "mget"},
		{"nosuchcommand x", ""},
		{"", ""},
		{"OBJECT ENCODING k", "object|encoding"},
		{"object encoding k", "object|encoding"},
		{"Object Freq k", "object|freq"},
		{"OBJECT", "object"},
		{"OBJECT NOSUCH k", "object"},
		{"CONFIG GET maxmemory", "config|get"},
		{"CLIENT NO-EVICT on", "client|no-evict"},
		{"XINFO STREAM k", "xinfo|stream"},
		{"MEMORY USAGE k", "memory|usage"},
		{"SCRIPT LOAD x", "script|load"},
		{"FUNCTION LIST", "function|list"},
		{"COMMAND GETKEYS get k", "command|getkeys"},
		{"COMMAND", "command"},
		{"GET ENCODING", "get"}, // not a container: args[1] is just an argument
	}
	for _, tt := range tests {
		got := Lookup(split(tt.args))
		name := ""
		if got != nil {
			name = got.Name
		}
		if name != tt.want {
			t.Errorf("Lookup(%q) = %q, want %q", tt.args, name, tt.want)
		}
	}
	if Lookup(nil) != nil {
		t.Error("Lookup(nil) != nil")
	}
	long := make([]byte, 200)
	for i := range long {
		long[i] = 'A'
	}
	if Lookup([][]byte{long}) != nil {
		t.Error("Lookup(long name) != nil")
	}
}

func TestInfo_ArityOK(t *testing.T) {
	tests := []struct {
		cmd   string
		nargs int
		want  bool
	}{
		{"get", 2, true}, {"get", 1, false}, {"get", 3, false},
		{"mget", 1, false}, {"mget", 2, true}, {"mget", 10, true},
		{"mset", 2, false}, {"mset", 3, true},
		{"eval", 2, false}, {"eval", 3, true},
		{"ping", 1, true}, {"ping", 3, true}, // arity -1: PING checks its own argument count
		{"lmove", 5, true}, {"lmove", 6, false},
	}
	for _, tt := range tests {
		if got := table[tt.cmd].ArityOK(tt.nargs); got != tt.want {
			t.Errorf("%s.ArityOK(%d) = %v, want %v (arity %d)", tt.cmd, tt.nargs, got, tt.want, table[tt.cmd].Arity)
		}
	}
	if !(&Info{Arity: 0}).ArityOK(7) {
		t.Error("arity 0 must accept anything, as in Redis")
	}
}

func TestNames(t *testing.T) {
	names := Names()
	if !slices.IsSorted(names) {
		t.Error("Names() not sorted")
	}
	for _, want := range []string{"get", "mget", "eval", "object|encoding", "config|get", "xinfo|stream"} {
		if !slices.Contains(names, want) {
			t.Errorf("Names() lacks %q", want)
		}
	}
	for _, n := range names {
		var args [][]byte
		for _, p := range splitBar(n) {
			args = append(args, []byte(p))
		}
		if info := Lookup(args); info == nil || info.Name != n {
			t.Errorf("Lookup(%q) = %v", n, info)
		}
	}
}

func splitBar(s string) []string {
	for i := 0; i < len(s); i++ {
		if s[i] == '|' {
			return []string{s[:i], s[i+1:]}
		}
	}
	return []string{s}
}

var lookupBench = [][][]byte{
	split("GET user:1"),
	split("set user:1 v"),
	split("HGETALL user:1"),
	split("object encoding k"),
	split("MGET a b c"),
	split("EVALSHA abc 1 k"),
}

func TestLookup_NoAllocs(t *testing.T) {
	dst := make([]int, 0, 16)
	allocs := testing.AllocsPerRun(100, func() {
		for _, args := range lookupBench {
			info := Lookup(args)
			dst = info.KeyIndexes(args, dst[:0])
		}
	})
	if allocs != 0 {
		t.Errorf("Lookup+KeyIndexes allocate %v times per run, want 0", allocs)
	}
}

func BenchmarkLookup(b *testing.B) {
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if Lookup(lookupBench[i%len(lookupBench)]) == nil {
			b.Fatal("nil")
		}
	}
}

func BenchmarkKeyIndexes(b *testing.B) {
	b.ReportAllocs()
	dst := make([]int, 0, 16)
	for i := 0; b.Loop(); i++ {
		args := lookupBench[i%len(lookupBench)]
		dst = Lookup(args).KeyIndexes(args, dst[:0])
	}
}
