//go:build integration

package oracle

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Three instances share one flag file; 32 writers spread over them do partial updates
// on 1,000 hot keys (500 entities: a hash and a set each, one flag) while the flag
// moves off → dualwrite → shadow → live → rampdown → shadow, each step held under
// load. Afterwards the journal must be empty, the two stores identical key by key, and
// both true to every acknowledged operation (see oracle_test.go).
func TestOracle_StageCycle(t *testing.T) {
	hold := 6 * time.Second
	if s := os.Getenv("HOTSWAP_ORACLE_HOLD"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("HOTSWAP_ORACLE_HOLD: %v", err)
		}
		hold = d
	}
	stages := []string{"dualwrite", "shadow", "live", "rampdown", "shadow"}
	if s := os.Getenv("HOTSWAP_ORACLE_STAGES"); s != "" {
		stages = strings.Split(s, ",")
	}
	rate := 1000
	if s := os.Getenv("HOTSWAP_ORACLE_RATE"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("HOTSWAP_ORACLE_RATE: %v", err)
		}
		rate = n
	}
	e := mustEnv(t, "off")
	var insts []*instance
	for i := 0; i < 3; i++ {
		insts = append(insts, e.mustServe(i, e.dynamoEP))
	}
	const entities, writers = 500, 32
	l := load{writers: writers, entities: entities, seed: oracleSeed(t), delEvery: 80, rate: rate,
		instance: func(w int) *instance { return insts[w%len(insts)] }}
	t.Logf("seed %d (HOTSWAP_ORACLE_SEED replays the writers' choices)", l.seed)
	smp := e.startSampler(insts)
	stop := e.run(l)
	time.Sleep(hold / 2)
	for _, st := range stages {
		e.setStage(st)
		// Hold each stage under load once the whole fleet serves it: with fenced
		// authority changes that is when every instance has applied the revision.
		took, ok := e.tl.waitApplied(insts, insts[0].fenced.Load(), 30*time.Second)
		if !ok {
			t.Errorf("stage %s did not take effect on every instance within 30s under load (see the timeline and the journal below): the cycle did not exercise it", st)
		} else {
			t.Logf("stage %s in effect on every instance %s after the flag file changed", st, took.Round(time.Millisecond))
		}
		time.Sleep(hold)
	}
	ops := stop()
	stopped := e.since()
	t.Logf("operations: %s (%.0f/s)", summary(ops), float64(len(ops))/stopped.Seconds())
	if s := errorSamples(ops); s != "" {
		t.Logf("errors: %s", s)
	}
	if j := e.waitJournalEmpty(20 * time.Second); len(j) > 0 {
		t.Errorf("journal not drained 20s after the writers stopped: %d entries, e.g. %v", len(j), sample(j))
	}
	t.Logf("journal drained %s after the writers stopped", e.since()-stopped)
	t.Logf("journal and copy backlog, every second:\n%s", smp.close())
	for _, in := range insts {
		_, body := httpGet("http://" + in.admin + "/status")
		if i := strings.Index(body, `"sync"`); i >= 0 {
			body = body[i:]
		}
		if len(body) > 600 {
			body = body[:600]
		}
		t.Logf("instance %d status: %s", in.id, body)
	}
	keys := allKeys(entities)
	rs, ds := e.snapshot(keys)
	if diffs := compareStores(keys, rs, ds); len(diffs) > 0 {
		t.Errorf("%d of %d keys differ between Redis and DynamoDB:\n%s", len(diffs), len(keys), strings.Join(head(diffs, 40), "\n"))
	}
	hs := histories(ops)
	vs := checkReplies(hs)
	vs = append(vs, checkState("redis", hs, keys, rs)...)
	vs = append(vs, checkState("dynamodb", hs, keys, ds)...)
	e.report(t, vs)
	t.Logf("stage timeline:\n%s", e.tl)
}
