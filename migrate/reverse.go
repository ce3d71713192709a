package migrate

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"hotswap/dual"
	"hotswap/translate"
)

// Reverse copies every item of the family from DynamoDB back to Redis: the rollback
// after `complete`, when Redis no longer receives copies (DESIGN.md §5). It walks the
// table with a strongly consistent Scan; each item's state (tombstones included: they
// delete the key) is applied with the syncer's script, which replaces the Redis key
// only if the version Redis last applied for it (the versions hash) is older, so a
// newer copy made meanwhile by a hotswap in live or rampdown is never overwritten. It
// takes the same lease as Backfill; its checkpoint is the Scan's ExclusiveStartKey.
func Reverse(ctx context.Context, o Options) (Result, error) {
	return copyFamily(ctx, o, "reverse", (*run).reverse)
}

// copyReverse: a DynamoDB → Redis copy applies where DynamoDB is authoritative.
func copyReverse(st translate.Stage) bool { return st.DynamoAuthoritative() }

func (r *run) reverse(ctx context.Context) (Result, error) {
	o := r.o
	var res Result
	var startKey map[string]types.AttributeValue
	if o.Resume {
		cp, err := loadCheckpoint(ctx, o.DB, r.table, reverseSK(o.Family))
		switch {
		case err != nil:
			return res, err
		case cp == nil:
			o.Logger.Info("no checkpoint to resume from: starting from the beginning", "family", o.Family)
		case cp.Done:
			o.Logger.Info("the previous reverse backfill of the family completed: nothing to resume", "family", o.Family)
			res.AlreadyDone = true
			return res, nil
		default:
			startKey, res.Resumed = cp.StartKey, true
		}
	}
	o.Logger.Info("reverse backfill started", "family", o.Family, "table", r.table, "rate", rateString(o.Rate), "concurrency", o.Concurrency, "resumed", res.Resumed)
	wm := &watermark{}
	wm.reset(0)
	if startKey != nil {
		wm.pos = &position{startKey: startKey}
	}
	runIDs := &sync.Map{}
	runIDs.Store(0, "")

	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	progressDone := r.startProgress(wctx, "reverse backfill "+o.Family)
	defer progressDone()
	go r.adapt(wctx)

	jobs := make(chan copyJob, o.Concurrency*4)
	var scanErr error
	go func() {
		defer close(jobs)
		scanErr = r.scanTable(wctx, startKey, wm, jobs)
	}()
	var copiers sync.WaitGroup
	for range o.Concurrency {
		copiers.Add(1)
		go func() {
			defer copiers.Done()
			for j := range jobs {
				j.pg.finish(r.copyToRedis(wctx, j))
			}
		}()
	}
	cpDone := make(chan struct{})
	go func() {
		defer close(cpDone)
		r.checkpointLoop(wctx, wm, runIDs, reverseSK(o.Family))
	}()
	copiers.Wait()
	cancel()
	<-cpDone
	sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer scancel()
	if err := r.saveWatermark(sctx, wm, runIDs, reverseSK(o.Family), true); err != nil {
		o.Logger.Warn("could not write the final checkpoint", "err", err)
	}
	if scanErr != nil && ctx.Err() == nil {
		return res, scanErr
	}
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("reverse backfill interrupted: %w", err)
	}
	return res, nil
}

// familyScan returns the Scan input for the family's items: strongly consistent,
// filtered on the family's pk prefix when it has one.
func familyScan(table string, fam *translate.Family, limit int, start map[string]types.AttributeValue) *dynamodb.ScanInput {
	in := &dynamodb.ScanInput{
		TableName:         aws.String(table),
		ConsistentRead:    aws.Bool(true),
		Limit:             aws.Int32(int32(limit)),
		ExclusiveStartKey: start,
	}
	if p := fam.PKPrefix(); p != "" {
		in.FilterExpression = aws.String("begins_with(#pk, :prefix)")
		in.ExpressionAttributeNames = map[string]string{"#pk": translate.AttrPK}
		in.ExpressionAttributeValues = map[string]types.AttributeValue{":prefix": &types.AttributeValueMemberS{Value: p}}
	}
	return in
}

// familyItem routes an item of a Scan: its key and route when it is one of the
// family's keys (its _key routes to the family and to this very pk and sk).
func familyItem(m *translate.Mapping, fam *translate.Family, it map[string]types.AttributeValue) ([]byte, translate.Route, bool) {
	key, ok := translate.ItemRedisKey(it)
	if !ok {
		return nil, translate.Route{}, false
	}
	rt, ok, err := m.Route(key)
	if err != nil || !ok || rt.Family != fam {
		return nil, translate.Route{}, false
	}
	pk, _ := it[translate.AttrPK].(*types.AttributeValueMemberS)
	sk, _ := it[translate.AttrSK].(*types.AttributeValueMemberS)
	if pk == nil || sk == nil || pk.Value != rt.PK || sk.Value != rt.SK {
		return nil, translate.Route{}, false
	}
	return key, rt, true
}

// scanTable walks the table and queues the copies of the family's items.
func (r *run) scanTable(ctx context.Context, start map[string]types.AttributeValue, wm *watermark, jobs chan<- copyJob) error {
	o := r.o
	seq := 0
	for {
		var out *dynamodb.ScanOutput
		for attempt := 1; ; attempt++ {
			var err error
			out, err = o.DB.Scan(ctx, familyScan(r.table, r.fam, o.ScanCount, start))
			if err == nil {
				break
			}
			if ctx.Err() != nil || attempt >= maxCopyAttempts*2 {
				return fmt.Errorf("scan the table: %w", err)
			}
			if backoff(ctx, attempt, 50*time.Millisecond, 5*time.Second) != nil {
				return ctx.Err()
			}
		}
		pg := &page{gen: 0, seq: seq, pos: &position{startKey: out.LastEvaluatedKey, end: len(out.LastEvaluatedKey) == 0}, w: wm}
		seq++
		pg.pending.Store(1)
		r.c.Scanned.Add(uint64(len(out.Items)))
		now := o.Now().UnixMilli()
		for _, it := range out.Items {
			key, rt, ok := familyItem(o.Mapping, r.fam, it)
			if !ok {
				continue
			}
			r.c.Seen.Add(1)
			if !copyReverse(o.Stage(&rt)) {
				r.c.Skipped.Add(1)
				continue
			}
			st, err := translate.DecodeItem(&rt, it)
			if err != nil {
				r.unmigratable(key, err.Error())
				continue
			}
			// A native item (no _ver) counts as version 1: newer than a Redis key that
			// never received a copy.
			pg.pending.Add(1)
			select {
			case jobs <- copyJob{pg: pg, key: key, val: st.Live(now), ver: max(st.Version, 1)}:
			case <-ctx.Done():
				pg.failed.Store(true)
				pg.pending.Add(-1)
				pg.finish(false)
				return nil
			}
		}
		pg.finish(true)
		if len(out.LastEvaluatedKey) == 0 {
			return nil
		}
		start = out.LastEvaluatedKey
	}
}

// copyToRedis applies one item's state to Redis.
func (r *run) copyToRedis(ctx context.Context, j copyJob) bool {
	return r.write(ctx, j.key, func() error {
		applied, err := dual.ApplyToRedis(ctx, r.o.Redis, r.o.Keys, j.key, j.val, j.ver)
		if err == nil && !applied {
			return errNotApplied
		}
		return err
	})
}
