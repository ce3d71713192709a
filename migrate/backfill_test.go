package migrate_test

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/redis/go-redis/v9"

	"hotswap/dual"
	"hotswap/migrate"
	"hotswap/translate"
)

// keyCount is the number of keys of the big tests: HOTSWAP_BACKFILL_KEYS, else the
// issue's 100,000 (10,000 with -short). On dynalite, which takes about 1,000-2,500
// PutItems/s on the 2-core CI machine, that is 40-100 s of copying.
func keyCount(tb testing.TB) int {
	if s := os.Getenv("HOTSWAP_BACKFILL_KEYS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 30 {
			tb.Fatalf("HOTSWAP_BACKFILL_KEYS=%q: want a number >= 30", s)
		}
		return n
	}
	if testing.Short() {
		return 10000
	}
	return 100000
}

// The backfill of three families while clients write through a hotswap in dualwrite
// (partial updates, expiries, deletes): afterwards verify finds no difference without
// repairing anything, and no deleted key came back.
func TestBackfillDuringWrites(t *testing.T) {
	e := newEnv(t, "dualwrite")
	n := keyCount(t) / 3
	start := time.Now()
	e.populate(t, n, "user", "teams", "email")
	t.Logf("populated %d keys in %s", 3*n, time.Since(start))
	hs, _ := e.startHotswap(t)

	// Writers touch random keys; ids ≡ 7 (mod 50) are only ever deleted, so a key of
	// theirs that exists afterwards came back from a late copy.
	ctx, stopWriters := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var writes, deletes atomic.Int64
	var deletedMu sync.Mutex
	deleted := map[string]bool{}
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(2 * time.Millisecond) // ~500 writes/s per writer
			defer tick.Stop()
			for ctx.Err() == nil {
				<-tick.C
				i := rand.IntN(n)
				id := strconv.Itoa(i)
				var err error
				if i%50 == 7 {
					key := []string{"user:", "teams:", "email:"}[rand.IntN(3)] + id
					err = hs.Del(ctx, key).Err()
					if err == nil {
						deletedMu.Lock()
						deleted[key] = true
						deletedMu.Unlock()
						deletes.Add(1)
					}
				} else {
					switch rand.IntN(5) {
					case 0:
						err = hs.HSet(ctx, "user:"+id, "name", "w"+id).Err()
					case 1:
						err = hs.SAdd(ctx, "teams:"+id, "c").Err()
					case 2:
						err = hs.HIncrBy(ctx, "user:"+id, "age", 1).Err()
					case 3:
						err = hs.Expire(ctx, "email:"+id, time.Hour).Err()
					case 4:
						err = hs.Set(ctx, "email:"+id, "w"+id, 0).Err()
					}
				}
				if err != nil && ctx.Err() == nil {
					t.Errorf("write through hotswap: %v", err)
					return
				}
				writes.Add(1)
			}
		}()
	}

	start = time.Now()
	results := make([]migrate.Result, 3)
	errs := make([]error, 3)
	var bwg sync.WaitGroup
	for i, fam := range []string{"user", "teams", "email"} {
		bwg.Add(1)
		go func() {
			defer bwg.Done()
			o := e.opts(t, fam)
			o.Concurrency = 8
			results[i], errs[i] = migrate.Backfill(context.Background(), o)
		}()
	}
	bwg.Wait()
	stopWriters()
	wg.Wait()
	t.Logf("backfill of %d keys in %s, with %d writes (%d deletes) through hotswap", 3*n, time.Since(start), writes.Load(), deletes.Load())
	for i, fam := range []string{"user", "teams", "email"} {
		r := results[i]
		if errs[i] != nil || !r.Complete() {
			t.Fatalf("backfill %s: %v %+v", fam, errs[i], r)
		}
		if r.Seen < uint64(n)-uint64(n/50)-1 || r.Copied+r.Newer != r.Seen {
			t.Errorf("backfill %s: %+v, want %d keys seen, each copied or newer", fam, r.Snapshot, n)
		}
		t.Logf("backfill %s: %+v", fam, r.Snapshot)
	}
	e.waitJournal(t)
	e.mustVerifyClean(t, "user", "teams", "email")
	for key := range deleted {
		if n, _ := e.rc.Exists(context.Background(), key).Result(); n != 0 {
			t.Errorf("%s was deleted and exists in Redis", key)
		}
		if it := e.item(t, key); it != nil {
			if ty, _ := it[translate.AttrType].(*types.AttributeValueMemberS); ty == nil || ty.Value != translate.TypeTombstone {
				t.Errorf("%s was deleted and came back in DynamoDB: %v", key, it)
			}
		}
	}
}

// A backfill that finds Redis restarted (SAVE, then a new process on the same data)
// sees the run_id change, walks again from the beginning and misses no key.
func TestBackfillRedisRestart(t *testing.T) {
	e := newEnv(t, "dualwrite")
	n := min(keyCount(t)/5, 20000)
	e.populate(t, n, "user")
	o := e.opts(t, "user")
	o.Rate = float64(n) / 3 // about three seconds a walk
	o.ScanCount = 100
	done := make(chan struct{})
	var res migrate.Result
	var err error
	go func() {
		defer close(done)
		res, err = migrate.Backfill(context.Background(), o)
	}()
	waitClock(t, e, int64(max(2, n/o.ScanCount/4)))
	if err := e.rc.Save(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	e.redis.Restart()
	<-done
	if err != nil || !res.Complete() {
		t.Fatalf("backfill: %v %+v", err, res)
	}
	if res.Restarts < 1 {
		t.Fatalf("backfill did not notice the restart: %+v", res)
	}
	t.Logf("backfill: %+v, %d restarts", res.Snapshot, res.Restarts)
	e.mustVerifyClean(t, "user")
}

// waitClock waits until the backfill has read at least pages pages (each takes one
// clock value).
func waitClock(tb testing.TB, e *env, pages int64) {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		v, err := e.rc.Get(context.Background(), dual.DefaultClockKey).Int64()
		if err != nil && !errors.Is(err, redis.Nil) {
			tb.Fatal(err)
		}
		if v >= pages {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("the backfill read %d pages in 30s", v)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Keys DynamoDB cannot hold (a value over 400 KB, a type the family does not hold) are
// listed as unmigratable and the copy goes on.
func TestBackfillUnmigratable(t *testing.T) {
	e := newEnv(t, "dualwrite")
	e.populate(t, 200, "email")
	ctx := context.Background()
	if err := e.rc.Set(ctx, "email:big", strings.Repeat("x", 500*1024), 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := e.rc.RPush(ctx, "email:list", "a", "b").Err(); err != nil {
		t.Fatal(err)
	}
	if err := e.rc.HSet(ctx, "email:hash", "f", "v").Err(); err != nil {
		t.Fatal(err)
	}
	o := e.opts(t, "email")
	res, err := migrate.Backfill(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if res.Complete() || res.Unmigratable != 3 || res.Copied != 200 || res.Errors != 0 {
		t.Fatalf("backfill: %+v", res)
	}
	b, err := os.ReadFile(res.UnmigratablePath)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{`"email:big"`, `"email:list"`, `"email:hash"`} {
		if !bytes.Contains(b, []byte(k)) {
			t.Errorf("%s is not in the unmigratable list:\n%s", k, b)
		}
	}
	t.Logf("unmigratable:\n%s", b)
	if it := e.item(t, "email:199"); it == nil {
		t.Error("email:199 was not copied")
	}
	// The counters reach the control items, for every serving instance's status page.
	ps, err := migrate.ReadProgress(ctx, e.db, e.table, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 1 || ps[0].Family != "email" || ps[0].Mode != "forward" || ps[0].State != "done" ||
		ps[0].Copied != 200 || ps[0].Unmigratable != 3 || ps[0].Started.IsZero() {
		t.Fatalf("progress in the table: %+v", ps)
	}
}

// A second backfill of a family waits for (or is refused by) the first one's lease;
// the fleet check names the lagging instances; a resume of a finished run does
// nothing.
func TestBackfillLeaseFleetResume(t *testing.T) {
	e := newEnv(t, "dualwrite")
	e.populate(t, 3000, "teams")
	ctx := context.Background()

	o := e.opts(t, "teams")
	o.Fleet = func(context.Context, string) ([]string, error) { return []string{"hs-1 (stages off..dualwrite)"}, nil }
	if _, err := migrate.Backfill(ctx, o); err == nil || !strings.Contains(err.Error(), "hs-1") {
		t.Fatalf("backfill with a lagging instance: %v", err)
	}
	o.Force = true
	o.Rate = 3000
	done := make(chan error, 1)
	go func() {
		_, err := migrate.Backfill(ctx, o)
		done <- err
	}()
	waitClock(t, e, 2)
	o2 := e.opts(t, "teams")
	o2.LeaseWait = 100 * time.Millisecond
	var held *migrate.LeaseHeldError
	if _, err := migrate.Backfill(ctx, o2); !errors.As(err, &held) {
		t.Fatalf("second backfill while the first runs: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	o2.Resume = true
	res, err := migrate.Backfill(ctx, o2)
	if err != nil || !res.AlreadyDone {
		t.Fatalf("resume after a complete run: %v %+v", err, res)
	}
	// A family at live is DynamoDB's: a forward copy leaves it alone.
	o3 := e.opts(t, "teams")
	o3.Stage = func(*translate.Route) translate.Stage { return translate.StageLive }
	res, err = migrate.Backfill(ctx, o3)
	if err != nil || res.Copied != 0 || res.Skipped != 3000 {
		t.Fatalf("backfill at live: %v %+v", err, res.Snapshot)
	}
}

// verify finds items corrupted directly in DynamoDB (1% of the keys: values, deleted
// items, expiries, items with no Redis key), and --repair brings the differences to 0.
func TestVerifyRepair(t *testing.T) {
	e := newEnv(t, "dualwrite")
	n := min(keyCount(t)/10, 10000)
	e.populate(t, n, "user")
	ctx := context.Background()
	if res, err := migrate.Backfill(ctx, e.opts(t, "user")); err != nil || !res.Complete() {
		t.Fatalf("backfill: %v %+v", err, res)
	}
	e.mustVerifyClean(t, "user")
	bad := n / 100
	want := map[string]uint64{}
	for i := 0; i < bad; i++ {
		id := strconv.Itoa(10*i + 3) // not a multiple of 10: no TTL
		r, _, _ := e.m.Route([]byte("user:" + id))
		var err error
		switch i % 4 {
		case 0:
			want[migrate.DiffValue]++
			_, err = e.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(e.table), Key: translate.ItemKey(&r),
				UpdateExpression: aws.String("SET #n = :v"), ExpressionAttributeNames: map[string]string{"#n": "name"},
				ExpressionAttributeValues: map[string]types.AttributeValue{":v": &types.AttributeValueMemberS{Value: "corrupt"}}})
		case 1:
			want[migrate.DiffMissing]++
			_, err = e.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(e.table), Key: translate.ItemKey(&r)})
		case 2:
			want[migrate.DiffTTL]++
			_, err = e.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(e.table), Key: translate.ItemKey(&r),
				UpdateExpression: aws.String("SET #e = :v"), ExpressionAttributeNames: map[string]string{"#e": translate.AttrExpire},
				ExpressionAttributeValues: map[string]types.AttributeValue{":v": &types.AttributeValueMemberN{Value: strconv.FormatInt(time.Now().Add(time.Hour).UnixMilli(), 10)}}})
		case 3:
			want[migrate.DiffExtra]++
			key := "user:extra" + id
			er, _, _ := e.m.Route([]byte(key))
			it, eerr := translate.EncodeItem(&er, []byte(key), &translate.Value{Kind: translate.KindHash, Hash: map[string][]byte{"name": []byte("x")}}, 1, 0)
			if eerr != nil {
				t.Fatal(eerr)
			}
			_, err = e.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(e.table), Item: it})
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	vo := e.verifyOpts(t, "user")
	res, err := migrate.Verify(ctx, vo)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range migrate.DiffKinds() {
		if res.Counts[k] != want[k] {
			t.Errorf("verify: %d differences of kind %s, want %d (all: %v)", res.Counts[k], k, want[k], res.Counts)
		}
	}
	t.Logf("verify: %d compared, %d differences, rate %.3f%%, examples %+v", res.Compared, res.Differences(), 100*res.MismatchRate(), res.Examples[:2])
	vo.Repair = true
	res, err = migrate.Verify(ctx, vo)
	if err != nil || res.Repaired != uint64(bad) || res.RepairFailed != 0 {
		t.Fatalf("verify --repair: %v repaired %d failed %d of %d; %+v", err, res.Repaired, res.RepairFailed, bad, res.Examples)
	}
	e.mustVerifyClean(t, "user")
	// Its counters reach the control items, for the serving instances' status pages.
	ps, err := migrate.ReadProgress(ctx, e.db, e.table, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, p := range ps {
		if p.Mode == "verify" && p.Family == "user" {
			found = true
			if p.State != "done" || p.Copied == 0 {
				t.Errorf("verify progress in the table: %+v", p)
			}
		}
	}
	if !found {
		t.Errorf("no verify progress in the table: %+v", ps)
	}
}

// The reverse copy after complete: DynamoDB's states (and deletes) replace Redis'
// stale keys, but never a key Redis holds at a newer version; verify --repair with
// DynamoDB authoritative fixes what is left.
func TestReverse(t *testing.T) {
	e := newEnv(t, "complete")
	ctx := context.Background()
	e.populate(t, 1200, "user") // the stale copy Redis kept
	eng, err := translate.NewEngine(translate.Options{Mapping: e.m, DB: e.db})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 1100; i++ {
		key := []byte("user:" + strconv.Itoa(i))
		r, _, _ := e.m.Route(key)
		var v *translate.Value
		if i < 1000 {
			v = &translate.Value{Kind: translate.KindHash, Hash: map[string][]byte{"name": []byte("new" + strconv.Itoa(i))}}
		} // 1000..1099: deleted while complete (tombstones)
		if _, err := eng.ApplyState(ctx, &r, key, v, 10); err != nil {
			t.Fatal(err)
		}
	}
	// user:5 was written by a hotswap in rampdown at version 20 meanwhile.
	if err := e.rc.HSet(ctx, dual.DefaultVersionKey, "user:5", 20).Err(); err != nil {
		t.Fatal(err)
	}
	o := e.opts(t, "user")
	res, err := migrate.Reverse(ctx, o)
	if err != nil || !res.Complete() || res.Seen != 1100 || res.Copied != 1099 || res.Newer != 1 {
		t.Fatalf("reverse: %v %+v", err, res.Snapshot)
	}
	if got := e.rc.HGet(ctx, "user:0", "name").Val(); got != "new0" {
		t.Errorf("user:0 name = %q", got)
	}
	if e.rc.Exists(ctx, "user:1050").Val() != 0 {
		t.Error("user:1050 was deleted in DynamoDB and is still in Redis")
	}
	if got := e.rc.HGet(ctx, "user:5", "name").Val(); got != "n5" {
		t.Errorf("user:5 (newer in Redis) was overwritten: %q", got)
	}
	// Left: user:5 (value) and user:1100..1199, which DynamoDB never had (extra in Redis:
	// "missing" from DynamoDB's side).
	vo := e.verifyOpts(t, "user")
	vres, err := migrate.Verify(ctx, vo)
	if err != nil || vres.Counts[migrate.DiffValue] != 1 || vres.Counts[migrate.DiffMissing] != 100 {
		t.Fatalf("verify: %v %v", err, vres.Counts)
	}
	vo.Repair = true
	if vres, err = migrate.Verify(ctx, vo); err != nil || vres.RepairFailed != 0 || vres.Repaired != 101 {
		t.Fatalf("verify --repair: %v %+v", err, vres)
	}
	e.mustVerifyClean(t, "user")
	if e.rc.Exists(ctx, "user:1150").Val() != 0 {
		t.Error("user:1150 has no item in DynamoDB (authoritative) and is still in Redis after repair")
	}
}
