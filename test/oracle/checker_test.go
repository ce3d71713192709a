//go:build integration

package oracle

import (
	"strings"
	"testing"
	"time"
)

// The oracle finds what it must: histories and final states with a lost SADD, lost
// increments, a resurrected token, an undone DEL and a reply that skipped increments
// each give a violation, and a consistent one gives none.
func TestChecker_FindsLosses(t *testing.T) {
	s := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	ops := []op{
		{kind: opSAdd, w: 1, key: "user:1:teams", field: "t1.1", send: s(10), ack: s(11), ok: true, reply: 1},
		{kind: opSAdd, w: 2, key: "user:1:teams", field: "t2.1", send: s(12), ack: s(13), ok: true, reply: 1},
		{kind: opSRem, w: 2, key: "user:1:teams", field: "t2.1", send: s(14), ack: s(15), ok: true, reply: 1},
		{kind: opIncr, w: 1, key: "user:1", field: "n1", n: 2, send: s(10), ack: s(11), ok: true, reply: 2},
		{kind: opIncr, w: 1, key: "user:1", field: "n1", n: 3, send: s(20), ack: s(21), ok: true, reply: 3}, // skipped 2
		{kind: opHSet, w: 1, key: "user:1", field: "h1", val: "a", send: s(22), ack: s(23), ok: true, reply: 1},
		// user:2: a DEL by its owner, then a token added after it; one added before it.
		{kind: opSAdd, w: 3, key: "user:2:teams", field: "t3.1", send: s(10), ack: s(11), ok: true, reply: 1},
		{kind: opDel, w: 2, key: "user:2:teams", send: s(30), ack: s(31), ok: true, reply: 1},
		{kind: opSAdd, w: 3, key: "user:2:teams", field: "t3.2", send: s(40), ack: s(41), ok: true, reply: 1},
		// An unacknowledged increment: may or may not have applied.
		{kind: opIncr, w: 4, key: "user:2", field: "n4", n: 5, send: s(10), ack: s(60), err: "timeout"},
	}
	keys := []string{"user:1", "user:1:teams", "user:2", "user:2:teams"}
	good := map[string]keyState{
		"user:1":       {kind: "hash", fields: map[string]string{"n1": "5", "h1": "a"}},
		"user:1:teams": {kind: "set", members: map[string]bool{"t1.1": true}},
		"user:2":       {kind: "hash", fields: map[string]string{"n4": "5"}},
		"user:2:teams": {kind: "set", members: map[string]bool{"t3.2": true}},
	}
	hs := histories(ops)
	if vs := checkState("redis", hs, keys, good); len(vs) != 0 {
		t.Fatalf("consistent state: %d violations: %+v", len(vs), vs)
	}
	bad := map[string]keyState{
		"user:1":       {kind: "hash", fields: map[string]string{"n1": "3", "h1": "b"}},   // lost increments, wrong register
		"user:1:teams": {kind: "set", members: map[string]bool{"t2.1": true}},             // lost SADD, undone SREM
		"user:2":       {kind: "none"},                                                    // n4 may be 0: fine
		"user:2:teams": {kind: "set", members: map[string]bool{"t3.1": true, "zz": true}}, // resurrected, lost, unknown
	}
	var got []string
	for _, v := range checkState("redis", hs, keys, bad) {
		got = append(got, v.key+": "+v.what)
	}
	for _, v := range checkReplies(hs) {
		got = append(got, v.key+": "+v.what)
	}
	all := strings.Join(got, "\n")
	for _, want := range []string{
		"user:1: counter below",
		"user:1: field h1 is not the last",
		"user:1:teams: acknowledged SADD token missing",
		"user:1:teams: acknowledged SREM undone",
		"user:2:teams: token of an acknowledged SADD that an acknowledged DEL removed is back",
		"user:2:teams: acknowledged SADD token missing",
		"user:2:teams: member nobody added",
		"user:1: HINCRBY reply: the counter lost acknowledged increments",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("no violation %q in:\n%s", want, all)
		}
	}
	if len(got) != 8 {
		t.Errorf("%d violations, want 8:\n%s", len(got), all)
	}
}
