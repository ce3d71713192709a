package migrate

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"hotswap/translate"
)

// publishEvery is how often a verify publishes its counters.
const publishEvery = 5 * time.Second

func verifySK(family string) string { return "verify/" + family }

// publishVerify writes a verify's counters to its control item every publishEvery
// until the returned function is called; that writes them once more, with done.
func publishVerify(ctx context.Context, db translate.Store, table, family string, c *Counters, started time.Time, now func() time.Time) func(done bool) {
	write := func(ctx context.Context, done bool) {
		it := controlKey(verifySK(family))
		it[attrFamily] = sAttr(family)
		it[attrMode] = sAttr("verify")
		it[attrStarted] = nAttr(started.UnixMilli())
		it[attrUpdated] = nAttr(now().UnixMilli())
		it[attrProgress] = c.Snapshot().attr()
		it[attrDone] = &types.AttributeValueMemberBOOL{Value: done}
		if host, err := os.Hostname(); err == nil {
			it[attrOwner] = sAttr(host)
		}
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_, _ = db.PutItem(wctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: it}) // progress only: best effort
	}
	stop := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(publishEvery)
		defer t.Stop()
		write(ctx, false)
		for {
			select {
			case <-stop:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				write(ctx, false)
			}
		}
	}()
	return func(done bool) {
		close(stop)
		<-finished
		write(ctx, done)
	}
}

// Progress is what the table's control items say of one family's backfill, for
// the status page, /metrics and `hotswap status` of every serving instance: the
// backfill runs in its own process and publishes its counters with each checkpoint.
type Progress struct {
	Family string
	Mode   string // forward, reverse
	// State: running (its lease is held), done (the walk reached its end), or
	// stopped (neither: killed or failed; --resume continues it).
	State   string
	Owner   string
	Started time.Time
	Updated time.Time
	Snapshot
}

// progressRecord is what a checkpoint carries besides the position.
type progressRecord struct {
	mode    string
	started time.Time
	snap    Snapshot
}

func (s Snapshot) attr() types.AttributeValue {
	return &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{
		"scanned": nAttr(int64(s.Scanned)), "seen": nAttr(int64(s.Seen)), "copied": nAttr(int64(s.Copied)),
		"newer": nAttr(int64(s.Newer)), "skipped": nAttr(int64(s.Skipped)), "unmigratable": nAttr(int64(s.Unmigratable)),
		"errors": nAttr(int64(s.Errors)), "estimate": nAttr(s.Estimate),
	}}
}

func snapshotOf(av types.AttributeValue) Snapshot {
	m, ok := av.(*types.AttributeValueMemberM)
	if !ok {
		return Snapshot{}
	}
	u := func(k string) uint64 { return uint64(max(attrN(m.Value, k), 0)) }
	return Snapshot{Scanned: u("scanned"), Seen: u("seen"), Copied: u("copied"), Newer: u("newer"), Skipped: u("skipped"),
		Unmigratable: u("unmigratable"), Errors: u("errors"), Estimate: attrN(m.Value, "estimate")}
}

// ReadProgress reads every family's backfill state from the control items of table
// (one strongly consistent Query).
func ReadProgress(ctx context.Context, db translate.Store, table string, now time.Time) ([]Progress, error) {
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(table),
		KeyConditionExpression:    aws.String("#pk = :pk"),
		ExpressionAttributeNames:  map[string]string{"#pk": translate.AttrPK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": sAttr(ControlPK)},
		ConsistentRead:            aws.Bool(true),
	}
	byKey := map[string]*Progress{}
	var order []string
	get := func(family, mode string) *Progress {
		k := mode + "/" + family
		p := byKey[k]
		if p == nil {
			p = &Progress{Family: family, Mode: mode, State: "stopped"}
			byKey[k] = p
			order = append(order, k)
		}
		return p
	}
	for {
		out, err := db.Query(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("migrate: read backfill progress: %w", err)
		}
		for _, it := range out.Items {
			sk := attrS(it, translate.AttrSK)
			family := attrS(it, attrFamily)
			switch {
			case strings.HasPrefix(sk, "backfill/lease/"):
				mode := attrS(it, attrMode)
				if mode == "" {
					mode = "forward"
				}
				p := get(family, mode)
				p.Owner = attrS(it, attrOwner)
				if time.UnixMilli(attrN(it, attrExpires)).After(now) {
					p.State = "running"
				}
			case strings.HasPrefix(sk, "backfill/checkpoint/"), strings.HasPrefix(sk, "backfill/reverse-checkpoint/"):
				mode := "forward"
				if strings.HasPrefix(sk, "backfill/reverse-checkpoint/") {
					mode = "reverse"
				}
				p := get(family, mode)
				p.Snapshot = snapshotOf(it[attrProgress])
				p.Updated = time.UnixMilli(attrN(it, attrUpdated))
				if ms := attrN(it, attrStarted); ms > 0 {
					p.Started = time.UnixMilli(ms)
				}
				if b, ok := it[attrDone].(*types.AttributeValueMemberBOOL); ok && b.Value && p.State != "running" {
					p.State = "done"
				}
			case strings.HasPrefix(sk, "verify/"):
				p := get(family, "verify")
				p.Snapshot = snapshotOf(it[attrProgress])
				p.Updated = time.UnixMilli(attrN(it, attrUpdated))
				p.Started = time.UnixMilli(attrN(it, attrStarted))
				p.Owner = attrS(it, attrOwner)
				switch b, _ := it[attrDone].(*types.AttributeValueMemberBOOL); {
				case b != nil && b.Value:
					p.State = "done"
				case now.Sub(p.Updated) < 3*publishEvery:
					p.State = "running"
				}
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			break
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
	res := make([]Progress, 0, len(order))
	for _, k := range order {
		res = append(res, *byKey[k])
	}
	return res, nil
}
