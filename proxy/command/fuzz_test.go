package command

import (
	"strings"
	"testing"
)

// unorderedKeys are the commands whose keys Redis may list out of argument order: the
// ZUNIONSTORE family's fallback procedure puts the destination last, and GEORADIUS lists
// its STORE spec before STOREDIST whatever their order in the arguments.
var unorderedKeys = map[string]bool{
	"zunionstore": true, "zinterstore": true, "zdiffstore": true,
	"georadius": true, "georadiusbymember": true,
}

// FuzzKeyIndexes feeds arbitrary arguments (split on single spaces) to Lookup and
// KeyIndexes: no panic, every index names an argument after the command name, no index
// twice, ascending where Redis lists keys in order, and the same keys as the live
// server's COMMAND GETKEYS.
func FuzzKeyIndexes(f *testing.F) {
	for _, s := range keyCorpus {
		f.Add(s)
	}
	f.Add("SORT k STORE\x00x d")
	f.Add("MIGRATE h 6379  0 5000 KEYS")
	f.Add("xread streams STREAMS streams 0 0")
	c := MustDialRedis(f)
	f.Fuzz(func(t *testing.T, s string) {
		args := split(s)
		info := Lookup(args)
		idx := info.KeyIndexes(args, nil)
		seen := map[int]bool{}
		for j, k := range idx {
			if k < 1 || k >= len(args) {
				t.Fatalf("%q: index %d out of range (%v)", s, k, idx)
			}
			if seen[k] {
				t.Fatalf("%q: index %d twice (%v)", s, k, idx)
			}
			seen[k] = true
			if j > 0 && k < idx[j-1] && !unorderedKeys[info.Name] {
				t.Fatalf("%q: indexes not ascending: %v", s, idx)
			}
		}
		if len(args) > 100 || strings.Count(s, " ") > 100 {
			return
		}
		checkAgainstGetKeys(t, c, args)
	})
}
