package migrate

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"hotswap/translate"
	"hotswap/translate/dynamo"
)

// ControlPK is the pk of the backfill's control items. A NUL byte not followed by two
// lower-case hex digits never appears in a family's pk (docs/MAPPING.md, "pk and sk"),
// so no key of any family can map to these items.
const ControlPK = "\x00hotswap"

// Sort keys of the control items, per family.
func leaseSK(family string) string      { return "backfill/lease/" + family }
func checkpointSK(family string) string { return "backfill/checkpoint/" + family }
func reverseSK(family string) string    { return "backfill/reverse-checkpoint/" + family }

// Attributes of the control items.
const (
	attrOwner    = "owner"
	attrExpires  = "expires_ms"
	attrMode     = "mode"
	attrRunID    = "run_id"
	attrCursor   = "cursor"
	attrStartKey = "start_key"
	attrDone     = "done"
	attrUpdated  = "updated_ms"
	attrFamily   = "family"
	attrProgress = "progress"
	attrStarted  = "started_ms"
)

func controlKey(sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		translate.AttrPK: &types.AttributeValueMemberS{Value: ControlPK},
		translate.AttrSK: &types.AttributeValueMemberS{Value: sk},
	}
}

func sAttr(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }
func nAttr(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

func attrS(it map[string]types.AttributeValue, name string) string {
	if v, ok := it[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func attrN(it map[string]types.AttributeValue, name string) int64 {
	if v, ok := it[name].(*types.AttributeValueMemberN); ok {
		n, _ := strconv.ParseInt(v.Value, 10, 64)
		return n
	}
	return 0
}

// LeaseHeldError: another backfill of the family holds the lease.
type LeaseHeldError struct {
	Family, Owner, Mode string
	Expires             time.Time
}

func (e *LeaseHeldError) Error() string {
	return fmt.Sprintf("a %s backfill of family %s is running (lease held by %s until %s)", e.Mode, e.Family, e.Owner, e.Expires.Format(time.RFC3339))
}

// lease is one backfill's hold on its family: a control item with the owner and an
// expiry, taken with a conditional PutItem and renewed well before it expires.
type lease struct {
	db     translate.Store
	table  string
	family string
	owner  string
	mode   string
	ttl    time.Duration
	now    func() time.Time
}

// acquire takes the lease if it is free, expired or already ours.
func (l *lease) acquire(ctx context.Context) error {
	now := l.now()
	it := controlKey(leaseSK(l.family))
	it[attrOwner] = sAttr(l.owner)
	it[attrExpires] = nAttr(now.Add(l.ttl).UnixMilli())
	it[attrMode] = sAttr(l.mode)
	it[attrFamily] = sAttr(l.family)
	_, err := l.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                 aws.String(l.table),
		Item:                      it,
		ConditionExpression:       aws.String("attribute_not_exists(#pk) OR #exp < :now OR #owner = :me"),
		ExpressionAttributeNames:  map[string]string{"#pk": translate.AttrPK, "#exp": attrExpires, "#owner": attrOwner},
		ExpressionAttributeValues: map[string]types.AttributeValue{":now": nAttr(now.UnixMilli()), ":me": sAttr(l.owner)},
	})
	if err == nil {
		return nil
	}
	if !dynamo.IsConditionFailed(err) {
		return fmt.Errorf("take the backfill lease of family %s: %w", l.family, err)
	}
	out, gerr := l.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(l.table), Key: controlKey(leaseSK(l.family)), ConsistentRead: aws.Bool(true)})
	if gerr != nil {
		return fmt.Errorf("take the backfill lease of family %s: read the holder: %w", l.family, gerr)
	}
	return &LeaseHeldError{Family: l.family, Owner: attrS(out.Item, attrOwner), Mode: attrS(out.Item, attrMode), Expires: time.UnixMilli(attrN(out.Item, attrExpires))}
}

// acquireWait takes the lease, waiting up to wait for a holder's lease to expire (a
// backfill killed without releasing it).
func (l *lease) acquireWait(ctx context.Context, wait time.Duration, onWait func(*LeaseHeldError)) error {
	deadline := l.now().Add(wait)
	for {
		err := l.acquire(ctx)
		var held *LeaseHeldError
		if !errors.As(err, &held) || !held.Expires.Before(deadline) {
			return err
		}
		if onWait != nil {
			onWait(held)
		}
		d := max(time.Until(held.Expires)+50*time.Millisecond, 50*time.Millisecond)
		if err := sleep(ctx, min(d, time.Second)); err != nil {
			return err
		}
	}
}

// renew pushes the expiry forward; errLeaseLost when another owner took it.
func (l *lease) renew(ctx context.Context) error {
	_, err := l.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(l.table),
		Key:                       controlKey(leaseSK(l.family)),
		UpdateExpression:          aws.String("SET #exp = :exp"),
		ConditionExpression:       aws.String("#owner = :me"),
		ExpressionAttributeNames:  map[string]string{"#exp": attrExpires, "#owner": attrOwner},
		ExpressionAttributeValues: map[string]types.AttributeValue{":exp": nAttr(l.now().Add(l.ttl).UnixMilli()), ":me": sAttr(l.owner)},
	})
	if dynamo.IsConditionFailed(err) {
		return errLeaseLost
	}
	if err != nil {
		return fmt.Errorf("renew the backfill lease: %w", err)
	}
	return nil
}

var errLeaseLost = errors.New("the backfill lease was taken by another process")

// keep renews the lease every ttl/3 until ctx ends; it calls lost (once) when the
// lease is gone or could not be renewed before it expired.
func (l *lease) keep(ctx context.Context, lost func(error)) {
	t := time.NewTicker(l.ttl / 3)
	defer t.Stop()
	valid := l.now().Add(l.ttl)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		// Not cancelled with ctx: a renewal in flight finishes (release follows).
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.ttl/3)
		err := l.renew(rctx)
		cancel()
		switch {
		case err == nil:
			valid = l.now().Add(l.ttl)
		case errors.Is(err, errLeaseLost):
			lost(err)
			return
		case ctx.Err() != nil:
			return
		case !l.now().Before(valid):
			lost(fmt.Errorf("the backfill lease expired: %w", err))
			return
		}
	}
}

// release gives the lease up (if still ours).
func (l *lease) release(ctx context.Context) error {
	_, err := l.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                 aws.String(l.table),
		Key:                       controlKey(leaseSK(l.family)),
		ConditionExpression:       aws.String("#owner = :me"),
		ExpressionAttributeNames:  map[string]string{"#owner": attrOwner},
		ExpressionAttributeValues: map[string]types.AttributeValue{":me": sAttr(l.owner)},
	})
	if err != nil && !dynamo.IsConditionFailed(err) {
		return fmt.Errorf("release the backfill lease: %w", err)
	}
	return nil
}

// checkpoint is where a backfill can resume: for the forward copy, Redis' run_id and a
// SCAN cursor all of whose keys before it were copied; for the reverse copy, the Scan's
// ExclusiveStartKey. Done marks a walk that reached its end.
type checkpoint struct {
	RunID    string
	Cursor   string
	StartKey map[string]types.AttributeValue
	Done     bool
	Updated  time.Time
}

func loadCheckpoint(ctx context.Context, db translate.Store, table, sk string) (*checkpoint, error) {
	out, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: controlKey(sk), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, fmt.Errorf("read the backfill checkpoint: %w", err)
	}
	if out.Item == nil {
		return nil, nil
	}
	cp := &checkpoint{RunID: attrS(out.Item, attrRunID), Cursor: attrS(out.Item, attrCursor), Updated: time.UnixMilli(attrN(out.Item, attrUpdated))}
	if m, ok := out.Item[attrStartKey].(*types.AttributeValueMemberM); ok {
		cp.StartKey = m.Value
	}
	if b, ok := out.Item[attrDone].(*types.AttributeValueMemberBOOL); ok {
		cp.Done = b.Value
	}
	return cp, nil
}

// saveCheckpoint writes the checkpoint. It is not conditioned on the lease (that would
// take a transaction, which dynalite lacks): the lease keeper stops the run as soon as
// the lease is lost, so a stale writer races for at most one renewal interval.
func saveCheckpoint(ctx context.Context, db translate.Store, table, sk, family string, cp checkpoint, now time.Time, prog progressRecord) error {
	it := controlKey(sk)
	it[attrFamily] = sAttr(family)
	it[attrMode] = sAttr(prog.mode)
	it[attrStarted] = nAttr(prog.started.UnixMilli())
	it[attrProgress] = prog.snap.attr()
	it[attrRunID] = sAttr(cp.RunID)
	it[attrCursor] = sAttr(cp.Cursor)
	it[attrDone] = &types.AttributeValueMemberBOOL{Value: cp.Done}
	it[attrUpdated] = nAttr(now.UnixMilli())
	if len(cp.StartKey) > 0 {
		it[attrStartKey] = &types.AttributeValueMemberM{Value: cp.StartKey}
	}
	if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: it}); err != nil {
		return fmt.Errorf("write the backfill checkpoint: %w", err)
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
