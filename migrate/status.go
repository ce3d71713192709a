package migrate

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"hotswap/translate"
)

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
		KeyConditionExpression:    aws.String("#pk = :pk AND begins_with(#sk, :prefix)"),
		ExpressionAttributeNames:  map[string]string{"#pk": translate.AttrPK, "#sk": translate.AttrSK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": sAttr(ControlPK), ":prefix": sAttr("backfill/")},
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
