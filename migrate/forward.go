package migrate

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"hotswap/dual"
	"hotswap/translate"
	"hotswap/translate/dynamo"
)

// Backfill copies every key of the family from Redis to DynamoDB (DESIGN.md §5). It
// refuses to start unless the fleet dual-writes the family (or Force), holds the
// family's lease while it runs, and walks Redis with SCAN, reading each page's keys
// (type, value, expiry) in one atomic script that also takes a fresh version from
// hotswap's clock. Each key is copied with a conditional PutItem that applies only when
// the item is absent, or is not a tombstone and has a lower version: a key written or
// deleted through hotswap during the copy keeps its newer state. The checkpoint (Redis'
// run_id and a SCAN cursor whose keys before it are all copied) lets Resume continue
// after a crash; a changed run_id restarts the walk.
//
// The error is non-nil only when the run could not go on (no lease, interrupted, lost
// lease, Redis or DynamoDB down for good); keys that could not be copied are counted
// in the Result, and Result.Complete says whether everything was.
func Backfill(ctx context.Context, o Options) (Result, error) {
	return copyFamily(ctx, o, "forward", (*run).forward)
}

// copyFamily is a backfill in either direction: the checks, the lease, the walk,
// and the result.
func copyFamily(ctx context.Context, o Options, mode string, walk func(*run, context.Context) (Result, error)) (Result, error) {
	if err := o.setDefaults(); err != nil {
		return Result{}, err
	}
	r, err := newRun(&o)
	if err != nil {
		return Result{}, err
	}
	if err := checkFleet(ctx, &o); err != nil {
		return Result{}, err
	}
	start := o.Now()
	lctx, release, err := r.holdLease(ctx, mode)
	if err != nil {
		return Result{}, err
	}
	defer release()
	res, err := walk(r, lctx)
	res.Snapshot = r.c.Snapshot()
	res.Duration = o.Now().Sub(start)
	path, ferr := r.closeUnmigratable()
	res.UnmigratablePath = path
	if err == nil {
		err = ferr
	}
	if cause := context.Cause(lctx); err != nil && cause != nil && !errors.Is(cause, context.Canceled) {
		err = fmt.Errorf("%w (%v)", err, cause)
	}
	return res, err
}

// copyJob is one key's copy.
type copyJob struct {
	pg   *page
	key  []byte
	item map[string]types.AttributeValue
	ver  int64
	// toRedis: the reverse copy (value and version to apply to Redis).
	val *translate.Value
}

// scannedPage is a page of keys on its way to the readers.
type scannedPage struct {
	pg     *page
	keys   [][]byte
	routes []translate.Route
}

func (r *run) forward(ctx context.Context) (Result, error) {
	o := r.o
	var res Result
	id, err := retryRedis(ctx, r, "read Redis' run_id", func() (string, error) { return runID(ctx, o.Redis) })
	if err != nil {
		return res, err
	}
	cursor := "0"
	if o.Resume {
		cp, err := loadCheckpoint(ctx, o.DB, r.table, checkpointSK(o.Family))
		switch {
		case err != nil:
			return res, err
		case cp == nil:
			o.Logger.Info("no checkpoint to resume from: starting from the beginning", "family", o.Family)
		case cp.Done:
			o.Logger.Info("the previous backfill of the family completed: nothing to resume (run without --resume to copy again)", "family", o.Family, "finished", cp.Updated.Format(time.RFC3339))
			res.AlreadyDone = true
			return res, nil
		case cp.RunID != id:
			o.Logger.Warn("Redis restarted since the checkpoint (its run_id changed) and SCAN cursors are valid for one process only: starting from the beginning", "family", o.Family, "checkpoint_run_id", cp.RunID, "run_id", id)
		default:
			cursor, res.Resumed = cp.Cursor, true
			o.Logger.Info("resuming from the checkpoint", "family", o.Family, "cursor", cursor, "checkpoint_at", cp.Updated.Format(time.RFC3339))
		}
	}
	if n, err := dbSize(ctx, o.Redis); err == nil {
		r.c.Estimate.Store(n)
	}
	glob := r.fam.ScanGlob()
	o.Logger.Info("backfill started", "family", o.Family, "match", r.fam.Match, "scan_match", glob, "table", r.table,
		"rate", rateString(o.Rate), "concurrency", o.Concurrency, "run_id", id, "cursor", cursor)

	wm := &watermark{}
	wm.reset(0)
	runIDs := &sync.Map{} // generation → run_id
	runIDs.Store(0, id)
	if cursor != "0" {
		wm.pos = &position{cursor: cursor}
	}

	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	progressDone := r.startProgress(wctx, "backfill "+o.Family)
	defer progressDone()
	go r.adapt(wctx)

	pages := make(chan scannedPage, 4)
	jobs := make(chan copyJob, o.Concurrency*4)
	var scanErr error
	var restarts int
	var wg, readers, copiers sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(pages)
		restarts, scanErr = r.scanRedis(wctx, id, cursor, glob, wm, runIDs, pages)
	}()
	nReaders := max(1, min(4, o.Concurrency/8))
	for range nReaders {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for sp := range pages {
				r.readPage(wctx, sp, jobs)
			}
		}()
	}
	go func() {
		readers.Wait()
		close(jobs)
	}()
	for range o.Concurrency {
		copiers.Add(1)
		go func() {
			defer copiers.Done()
			for j := range jobs {
				j.pg.finish(r.copyToDynamo(wctx, j))
			}
		}()
	}
	cpDone := make(chan struct{})
	go func() {
		defer close(cpDone)
		r.checkpointLoop(wctx, wm, runIDs, checkpointSK(o.Family))
	}()
	copiers.Wait()
	wg.Wait()
	cancel()
	<-cpDone
	res.Restarts = restarts
	// The last checkpoint, whatever stopped the run.
	sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer scancel()
	if err := r.saveWatermark(sctx, wm, runIDs, checkpointSK(o.Family), true); err != nil {
		o.Logger.Warn("could not write the final checkpoint", "err", err)
	}
	if scanErr != nil {
		return res, scanErr
	}
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("backfill interrupted: %w", err)
	}
	return res, nil
}

func rateString(r float64) string {
	if r < 0 {
		return "unlimited"
	}
	return strconv.FormatFloat(r, 'f', -1, 64) + "/s"
}

// scanRedis walks Redis and hands the family's keys to the readers, page by page. It
// checks Redis' run_id after every SCAN: a reply from a restarted Redis (new run_id)
// restarts the walk from cursor 0, as a cursor means nothing to another process.
func (r *run) scanRedis(ctx context.Context, id, cursor, glob string, wm *watermark, runIDs *sync.Map, out chan<- scannedPage) (restarts int, err error) {
	o := r.o
	gen, seq := 0, 0
	own := map[string]bool{o.Keys.Journal: true, o.Keys.Clock: true, o.Keys.Version: true}
	for {
		var next string
		var keys [][]byte
		_, err := retryRedis(ctx, r, "scan Redis", func() (struct{}, error) {
			var err error
			next, keys, err = scanPage(ctx, o.Redis, cursor, glob, o.ScanCount)
			return struct{}{}, err
		})
		if err != nil {
			return restarts, err
		}
		now, err := retryRedis(ctx, r, "read Redis' run_id", func() (string, error) { return runID(ctx, o.Redis) })
		if err != nil {
			return restarts, err
		}
		if now != id {
			restarts++
			gen++
			o.Logger.Warn("Redis restarted (its run_id changed): SCAN cursors are valid for one process only, so the walk starts again from the beginning", "family", o.Family, "old_run_id", id, "run_id", now)
			id, cursor, seq = now, "0", 0
			runIDs.Store(gen, id)
			wm.reset(gen)
			continue
		}
		r.c.Scanned.Add(uint64(len(keys)))
		sp := scannedPage{pg: &page{gen: gen, seq: seq, pos: &position{cursor: next, end: next == "0"}, w: wm}}
		seq++
		for _, k := range keys {
			if own[string(k)] {
				continue
			}
			rt, ok, err := o.Mapping.Route(k)
			if !ok || rt.Family != r.fam {
				continue
			}
			r.c.Seen.Add(1)
			if err != nil {
				r.unmigratable(k, err.Error())
				continue
			}
			if st := o.Stage(&rt); !copyForward(st) {
				r.c.Skipped.Add(1)
				continue
			}
			sp.keys = append(sp.keys, k)
			sp.routes = append(sp.routes, rt)
		}
		r.refineEstimate(next)
		select {
		case out <- sp:
		case <-ctx.Done():
			return restarts, nil
		}
		if next == "0" {
			return restarts, nil
		}
		cursor = next
	}
}

// copyForward: a Redis → DynamoDB copy applies at the stages where Redis is
// authoritative and writes are copied to DynamoDB.
func copyForward(st translate.Stage) bool {
	return st == translate.StageDualWrite || st == translate.StageShadow
}

// refineEstimate estimates the family's size from the SCAN cursor: Redis' cursor is a
// reversed-bit counter over the hash table's buckets, so its reversed bits are the
// fraction of the table walked.
func (r *run) refineEstimate(cursor string) {
	c, err := strconv.ParseUint(cursor, 10, 64)
	if err != nil || c == 0 {
		return
	}
	frac := float64(bits.Reverse64(c)) / math.Exp2(64)
	seen := r.c.Seen.Load()
	if frac < 0.01 || seen < 100 {
		return
	}
	r.c.Estimate.Store(int64(float64(seen) / frac))
}

// readPage reads a page's keys in one atomic script (with a fresh version) and queues
// their copies.
func (r *run) readPage(ctx context.Context, sp scannedPage, jobs chan<- copyJob) {
	pg := sp.pg
	pg.pending.Store(1) // released below, once every copy is queued
	defer pg.finish(true)
	if len(sp.keys) == 0 {
		return
	}
	var states []redisState
	var version int64
	_, err := retryRedis(ctx, r, "read keys from Redis", func() (struct{}, error) {
		var err error
		states, version, err = readStates(ctx, r.o.Redis, r.o.Keys, sp.keys, true)
		return struct{}{}, err
	})
	if err != nil {
		r.c.Errors.Add(uint64(len(sp.keys)))
		pg.failed.Store(true)
		if ctx.Err() == nil {
			r.o.Logger.Error("could not read keys from Redis; they are not copied", "keys", len(sp.keys), "err", err)
		}
		return
	}
	for i, st := range states {
		key := sp.keys[i]
		switch {
		case st.bad:
			r.unmigratable(key, fmt.Sprintf("type %s: DynamoDB families hold strings, hashes and sets", st.typ))
			continue
		case st.val == nil:
			// Deleted or expired since SCAN returned it: the delete went through hotswap
			// (and its copy) or the key simply expired. Nothing to copy.
			r.c.Newer.Add(1)
			continue
		case r.fam.Kind != translate.KindNone && st.val.Kind != r.fam.Kind:
			r.unmigratable(key, fmt.Sprintf("type %s: family %s holds %s values", st.val.Kind, r.fam.Name, r.fam.Kind))
			continue
		}
		it, err := translate.EncodeItem(&sp.routes[i], key, st.val, version, 0)
		if err != nil {
			r.unmigratable(key, strings.TrimPrefix(err.Error(), "ERR hotswap: "))
			continue
		}
		pg.pending.Add(1)
		select {
		case jobs <- copyJob{pg: pg, key: key, item: it, ver: version}:
		case <-ctx.Done():
			pg.failed.Store(true)
			pg.pending.Add(-1)
			return
		}
	}
}

// copyCondition: the item is absent, or is not a tombstone and holds an older version.
const copyCondition = "attribute_not_exists(#pk) OR (#type <> :tomb AND #ver < :ver)"

// copyToDynamo writes one copy; false when it failed (the key is not copied).
func (r *run) copyToDynamo(ctx context.Context, j copyJob) bool {
	in := &dynamodb.PutItemInput{
		TableName:                aws.String(r.table),
		Item:                     j.item,
		ConditionExpression:      aws.String(copyCondition),
		ExpressionAttributeNames: map[string]string{"#pk": translate.AttrPK, "#type": translate.AttrType, "#ver": translate.AttrVersion},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":tomb": &types.AttributeValueMemberS{Value: translate.TypeTombstone},
			":ver":  &types.AttributeValueMemberN{Value: strconv.FormatInt(j.ver, 10)},
		},
	}
	return r.write(ctx, j.key, func() error {
		_, err := r.o.Writes.PutItem(ctx, in)
		return err
	})
}

// write runs one rate-limited copy with retries: throttling backs off (with jitter)
// and lowers the rate; a failed condition is a newer target; a validation error is an
// unmigratable key; other errors are retried a few times.
func (r *run) write(ctx context.Context, key []byte, put func() error) bool {
	attempt, throttles := 0, 0
	for {
		if err := r.limiter.Wait(ctx); err != nil {
			r.c.Errors.Add(1)
			return false
		}
		err := put()
		switch {
		case err == nil:
			r.c.Copied.Add(1)
			return true
		case errors.Is(err, errNotApplied) || dynamo.IsConditionFailed(err):
			r.c.Newer.Add(1)
			return true
		case ctx.Err() != nil:
			r.c.Errors.Add(1)
			return false
		case dynamo.IsThrottle(err):
			r.throttled()
			throttles++
			if throttles > 50 {
				r.c.Errors.Add(1)
				r.o.Logger.Error("copy throttled too many times; not copied", "key_hash", dual.HashKey(key), "err", err)
				return false
			}
			if backoff(ctx, throttles, 50*time.Millisecond, 5*time.Second) != nil {
				r.c.Errors.Add(1)
				return false
			}
		case isValidation(err):
			r.unmigratable(key, "DynamoDB refused the item: "+err.Error())
			return true
		default:
			attempt++
			if attempt >= maxCopyAttempts {
				r.c.Errors.Add(1)
				r.o.Logger.Error("copy failed; not copied", "key_hash", dual.HashKey(key), "attempts", attempt, "err", err)
				return false
			}
			if backoff(ctx, attempt, 20*time.Millisecond, 2*time.Second) != nil {
				r.c.Errors.Add(1)
				return false
			}
		}
	}
}

// errNotApplied: the target already held this version or a newer one.
var errNotApplied = errors.New("not applied: the target is newer")

func isValidation(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == "ValidationException"
}

// retryRedis retries a Redis call with backoff for up to redisRetryFor (Redis
// restarting, a failover).
func retryRedis[T any](ctx context.Context, r *run, what string, f func() (T, error)) (T, error) {
	deadline := time.Now().Add(redisRetryFor)
	for attempt := 1; ; attempt++ {
		v, err := f()
		if err == nil {
			return v, nil
		}
		if ctx.Err() != nil {
			return v, ctx.Err()
		}
		if time.Now().After(deadline) {
			return v, fmt.Errorf("%s: %w", what, err)
		}
		if attempt == 1 || attempt%20 == 0 {
			r.o.Logger.Warn("Redis call failed; retrying", "what", what, "err", err)
		}
		if err := backoff(ctx, attempt, 20*time.Millisecond, time.Second); err != nil {
			return v, err
		}
	}
}

// checkpointLoop saves the checkpoint every CheckpointInterval until ctx ends.
func (r *run) checkpointLoop(ctx context.Context, wm *watermark, runIDs *sync.Map, sk string) {
	t := time.NewTicker(r.o.CheckpointInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		// A save in flight is finished, not cancelled, when the run ends: cancelling a
		// request mid-way gains nothing (and crashes dynalite).
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		err := r.saveWatermark(sctx, wm, runIDs, sk, false)
		cancel()
		if err != nil && ctx.Err() == nil {
			r.o.Logger.Warn("could not write the checkpoint", "err", err)
		}
	}
}

// saveWatermark writes the watermark as the checkpoint if it moved (or always, final).
func (r *run) saveWatermark(ctx context.Context, wm *watermark, runIDs *sync.Map, sk string, final bool) error {
	p, gen, changed := wm.take()
	if !changed && !final {
		return nil
	}
	cp := checkpoint{Cursor: "0"}
	if v, ok := runIDs.Load(gen); ok {
		cp.RunID = v.(string)
	}
	if p != nil {
		cp.Cursor, cp.StartKey, cp.Done = p.cursor, p.startKey, p.end
		if p.end {
			cp.Cursor = "0"
		}
	}
	if !changed && final && p == nil {
		return nil // nothing was completed: keep whatever checkpoint there is
	}
	mode := "forward"
	if sk == reverseSK(r.o.Family) {
		mode = "reverse"
	}
	return saveCheckpoint(ctx, r.o.DB, r.table, sk, r.o.Family, cp, r.o.Now(), progressRecord{mode: mode, started: r.started, snap: r.c.Snapshot()})
}

// startProgress shows the run's progress until the returned function is called.
func (r *run) startProgress(ctx context.Context, what string) func() {
	pctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		showProgress(pctx, &r.c, r.o.Progress, r.o.Logger, what)
	}()
	return func() {
		cancel()
		<-done
	}
}
