// Package fleet is hotswap's fleet registry and the fence on authority changes
// (DESIGN.md §3 and §5, docs/CONSISTENCY.md).
//
// Every instance heartbeats a control item into the mapping's table: its id, the
// flag revision it has loaded, the revision it serves authority by, and each
// family's stage range. One more control item holds the revision the fleet has
// applied, with its configuration, so an instance that starts in the middle of a
// change serves what the others serve. Fence (fence.go) uses both to move an
// entity between Redis- and DynamoDB-authoritative stages only when no instance
// can still be writing it under the old authority.
package fleet

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
)

// ControlPK is the partition of the fleet's control items. A NUL not followed by
// two lower-case hex digits never appears in a family's pk (docs/MAPPING.md), so
// no key of any family can collide with it.
const ControlPK = "\x00hotswap/fleet"

const (
	appliedSK  = "applied"
	killSK     = "killswitch"
	nodePrefix = "node#"
	// nodeExpiry is how long a node item outlives its last heartbeat before
	// DynamoDB's TTL may delete it (readers judge liveness themselves).
	nodeExpiry = time.Hour
)

// Range is the lowest and highest stage a family's flag can give an entity.
type Range struct {
	Lo string `json:"lo"`
	Hi string `json:"hi"`
}

// Node is one instance's heartbeat.
type Node struct {
	ID      string           `json:"id"`
	Host    string           `json:"host,omitempty"`
	Version string           `json:"version,omitempty"`
	Loaded  string           `json:"loaded"`            // flag revision loaded
	Applied string           `json:"applied"`           // revision it serves authority by
	Drained string           `json:"drained,omitempty"` // revision it has paused and drained for
	Stages  map[string]Range `json:"stages,omitempty"`  // family → stage range
	Started time.Time        `json:"started"`
	Beat    time.Time        `json:"beat"` // the writer's clock
	Seq     uint64           `json:"seq"`  // increases with every heartbeat

	// Set by readers, not stored.
	Live bool          `json:"live"`
	Age  time.Duration `json:"age_ns"` // since the heartbeat last changed, by the reader's clock
}

// State is what the registry holds.
type State struct {
	Applied       string // "" when no instance has registered a revision yet
	AppliedConfig []byte
	Nodes         []Node
	Kill          bool // the fleet's kill switch (SetKill)
}

// Registry reads and writes the fleet's control items.
type Registry struct {
	db    translate.Store
	table string
}

// NewRegistry returns a Registry on table.
func NewRegistry(db translate.Store, table string) *Registry {
	return &Registry{db: db, table: table}
}

func key(sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: ControlPK},
		"sk": &types.AttributeValueMemberS{Value: sk},
	}
}

func num(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

func str(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }

// Beat writes n's heartbeat.
func (r *Registry) Beat(ctx context.Context, n Node) error {
	item := key(nodePrefix + n.ID)
	item["id"] = str(n.ID)
	item["loaded"] = str(n.Loaded)
	item["applied"] = str(n.Applied)
	item["started"] = num(n.Started.UnixMilli())
	item["beat"] = num(n.Beat.UnixMilli())
	item["seq"] = num(int64(n.Seq))
	item[translate.AttrTTL] = num(n.Beat.Add(nodeExpiry).Unix())
	for k, v := range map[string]string{"host": n.Host, "version": n.Version, "drained": n.Drained} {
		if v != "" {
			item[k] = str(v)
		}
	}
	if len(n.Stages) > 0 {
		m := make(map[string]types.AttributeValue, len(n.Stages))
		for fam, rg := range n.Stages {
			m[fam] = &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{"lo": str(rg.Lo), "hi": str(rg.Hi)}}
		}
		item["stages"] = &types.AttributeValueMemberM{Value: m}
	}
	if _, err := r.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(r.table), Item: item}); err != nil {
		return fmt.Errorf("fleet: heartbeat: %w", err)
	}
	return nil
}

// Remove deletes an instance's heartbeat (on a clean stop).
func (r *Registry) Remove(ctx context.Context, id string) error {
	if _, err := r.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(r.table), Key: key(nodePrefix + id)}); err != nil {
		return fmt.Errorf("fleet: remove %s: %w", id, err)
	}
	return nil
}

// Read returns the registry's content, read strongly. Live and Age are left for
// the caller (see Tracker, or LiveByClock).
func (r *Registry) Read(ctx context.Context) (State, error) {
	var st State
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(r.table),
		KeyConditionExpression:    aws.String("#pk = :pk"),
		ExpressionAttributeNames:  map[string]string{"#pk": "pk"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(ControlPK)},
		ConsistentRead:            aws.Bool(true),
	}
	for {
		out, err := r.db.Query(ctx, in)
		if err != nil {
			return State{}, fmt.Errorf("fleet: read registry: %w", err)
		}
		for _, it := range out.Items {
			sk := sOf(it["sk"])
			switch {
			case sk == killSK:
				if b, ok := it["on"].(*types.AttributeValueMemberBOOL); ok {
					st.Kill = b.Value
				}
			case sk == appliedSK:
				st.Applied = sOf(it["rev"])
				if b, ok := it["cfg"].(*types.AttributeValueMemberB); ok {
					st.AppliedConfig = b.Value
				}
			case len(sk) > len(nodePrefix) && sk[:len(nodePrefix)] == nodePrefix:
				st.Nodes = append(st.Nodes, nodeOf(it))
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			return st, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

func sOf(v types.AttributeValue) string {
	if s, ok := v.(*types.AttributeValueMemberS); ok {
		return s.Value
	}
	return ""
}

func nOf(v types.AttributeValue) int64 {
	if n, ok := v.(*types.AttributeValueMemberN); ok {
		i, _ := strconv.ParseInt(n.Value, 10, 64)
		return i
	}
	return 0
}

func nodeOf(it map[string]types.AttributeValue) Node {
	n := Node{
		ID:      sOf(it["id"]),
		Host:    sOf(it["host"]),
		Version: sOf(it["version"]),
		Loaded:  sOf(it["loaded"]),
		Applied: sOf(it["applied"]),
		Drained: sOf(it["drained"]),
		Started: time.UnixMilli(nOf(it["started"])),
		Beat:    time.UnixMilli(nOf(it["beat"])),
		Seq:     uint64(nOf(it["seq"])),
	}
	if m, ok := it["stages"].(*types.AttributeValueMemberM); ok {
		n.Stages = make(map[string]Range, len(m.Value))
		for fam, v := range m.Value {
			if r, ok := v.(*types.AttributeValueMemberM); ok {
				n.Stages[fam] = Range{Lo: sOf(r.Value["lo"]), Hi: sOf(r.Value["hi"])}
			}
		}
	}
	return n
}

// SetKill turns the fleet's kill switch on or off: every instance reads it at its
// next heartbeat and its fence moves every family to off (complete excepted).
func (r *Registry) SetKill(ctx context.Context, on bool, by string) error {
	item := key(killSK)
	item["on"] = &types.AttributeValueMemberBOOL{Value: on}
	item["by"] = str(by)
	item["at"] = num(time.Now().UnixMilli())
	if _, err := r.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(r.table), Item: item}); err != nil {
		return fmt.Errorf("fleet: set the kill switch: %w", err)
	}
	return nil
}

// Init records rev as the fleet's applied revision if none is recorded yet. It
// reports whether it did.
func (r *Registry) Init(ctx context.Context, rev string, cfg []byte) (bool, error) {
	item := key(appliedSK)
	item["rev"] = str(rev)
	item["cfg"] = &types.AttributeValueMemberB{Value: cfg}
	item["at"] = num(time.Now().UnixMilli())
	_, err := r.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                aws.String(r.table),
		Item:                     item,
		ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
		ExpressionAttributeNames: map[string]string{"#pk": "pk"},
	})
	var ccf *types.ConditionalCheckFailedException
	switch {
	case errors.As(err, &ccf):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("fleet: record applied revision: %w", err)
	}
	return true, nil
}

// Advance moves the fleet's applied revision from one revision to the next, if it
// still is from. It reports whether it did.
func (r *Registry) Advance(ctx context.Context, from, to string, cfg []byte) (bool, error) {
	_, err := r.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(r.table),
		Key:                      key(appliedSK),
		UpdateExpression:         aws.String("SET #rev = :to, #cfg = :cfg, #at = :at"),
		ConditionExpression:      aws.String("#rev = :from"),
		ExpressionAttributeNames: map[string]string{"#rev": "rev", "#cfg": "cfg", "#at": "at"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":to": str(to), ":from": str(from), ":cfg": &types.AttributeValueMemberB{Value: cfg},
			":at": num(time.Now().UnixMilli()),
		},
	})
	var ccf *types.ConditionalCheckFailedException
	switch {
	case errors.As(err, &ccf):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("fleet: advance applied revision to %s: %w", to, err)
	}
	return true, nil
}

// LiveByClock marks nodes live whose heartbeat, by their writer's clock, is
// younger than ttl by now: for one-shot readers (backfill, status) that cannot
// watch the sequence numbers move. Clocks must agree to well within ttl.
func LiveByClock(nodes []Node, now time.Time, ttl time.Duration) []Node {
	out := make([]Node, len(nodes))
	for i, n := range nodes {
		n.Age = max(now.Sub(n.Beat), 0)
		n.Live = n.Age < ttl
		out[i] = n
	}
	return out
}

// Tracker judges liveness by the reader's own clock: a node is live while its
// sequence number has moved within ttl, so clock skew between machines does not
// matter. A node first seen counts as live for ttl.
type Tracker struct {
	ttl  time.Duration
	seen map[string]tracked
}

type tracked struct {
	seq uint64
	at  time.Time
}

// NewTracker returns a Tracker with the given liveness window.
func NewTracker(ttl time.Duration) *Tracker {
	return &Tracker{ttl: ttl, seen: map[string]tracked{}}
}

// Observe updates the tracker with a read at now and returns the nodes with Live
// and Age set. Not safe for concurrent use.
func (t *Tracker) Observe(nodes []Node, now time.Time) []Node {
	out := make([]Node, len(nodes))
	present := make(map[string]bool, len(nodes))
	for i, n := range nodes {
		present[n.ID] = true
		tr, ok := t.seen[n.ID]
		if !ok || tr.seq != n.Seq {
			tr = tracked{seq: n.Seq, at: now}
			t.seen[n.ID] = tr
		}
		n.Age = now.Sub(tr.at)
		n.Live = n.Age < t.ttl
		out[i] = n
	}
	for id := range t.seen {
		if !present[id] {
			delete(t.seen, id)
		}
	}
	return out
}
