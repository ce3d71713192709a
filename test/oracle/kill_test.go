//go:build integration

package oracle

import (
	"strings"
	"testing"
	"time"
)

// Two instances on one Redis and one DynamoDB; one of them is SIGKILLed mid-load while
// its journal holds entries it will never clear: in dualwrite its DynamoDB is cut (the
// copies fail and stay journalled), in live its DynamoDB answers late (the commits land
// but the instance dies before copying them to Redis). The survivor's repairer must
// drain the journal and leave both stores identical and true to every acknowledged
// operation.
func TestKill9_MidLoad(t *testing.T) {
	for _, stage := range []string{"dualwrite", "live"} {
		t.Run(stage, func(t *testing.T) { testKill9(t, stage) })
	}
}

func testKill9(t *testing.T, stage string) {
	e := mustEnv(t, stage)
	rl := mustRelay(t, strings.TrimPrefix(e.dynamoEP, "http://"))
	victim := e.mustServe(0, "http://"+rl.addr, "--dynamodb-timeout", "3s")
	survivor := e.mustServe(1, e.dynamoEP)
	const entities, writers = 100, 8
	l := load{writers: writers, entities: entities, seed: oracleSeed(t), delEvery: 60,
		instance: func(w int) *instance {
			if w%2 == 0 {
				return victim
			}
			return survivor
		}}
	t.Logf("seed %d (HOTSWAP_ORACLE_SEED replays the writers' choices)", l.seed)
	stop := e.run(l)
	time.Sleep(2 * time.Second)
	switch stage {
	case "dualwrite":
		rl.cut() // the victim's copies fail: its journal entries stay
	default:
		rl.delay.Store(int64(400 * time.Millisecond)) // commits land, the victim learns late
	}
	time.Sleep(1500 * time.Millisecond)
	before := e.journal()
	victim.kill()
	rl.cut()
	killedAt := e.since()
	if len(before) == 0 {
		t.Fatalf("the journal was empty when the victim was killed: the test did not exercise the repair")
	}
	t.Logf("killed instance 0 at %s with %d journal entries", ms(killedAt), len(before))
	time.Sleep(time.Second) // the survivor's writers go on
	ops := stop()
	t.Logf("operations: %s", summary(ops))
	if j := e.waitJournalEmpty(20 * time.Second); len(j) > 0 {
		t.Errorf("journal not drained 20s after the writers stopped: %d entries, e.g. %v", len(j), sample(j))
	}
	t.Logf("journal drained at %s (%s after the kill)", ms(e.since()), e.since()-killedAt)
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
}

func sample(m map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = v
		if len(out) == 5 {
			break
		}
	}
	return out
}

func head(s []string, n int) []string {
	if len(s) > n {
		return append(s[:n:n], "...")
	}
	return s
}
