package translate

import (
	"container/list"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// The DynamoDB half of the commands over the whole keyspace: SCAN, KEYS, DBSIZE,
// RANDOMKEY, FLUSHDB and FLUSHALL (the proxy combines them with Redis' half,
// proxy/keyspace.go; docs/MAPPING.md "Whole-keyspace commands").
//
// A DynamoDB item is a key of db 0 when it carries the key's bytes in `_key`, is not a
// tombstone, has not expired, and its key routes (Mapping.Route) to a family served
// from DynamoDB whose pk and sk are the item's own. The last check keeps out items
// hotswap did not write for that key: control items, items of families still served
// from Redis, and an item copied by hand under another key. Items written by other
// services without `_key` cannot be turned back into a Redis key and are never listed.
//
// Every one of these reads the table with Scan, strongly consistent, projecting only
// the bookkeeping attributes: KEYS, DBSIZE and FLUSH* read the whole table (they cost
// read capacity for every item, as Redis' KEYS costs a walk of every key), SCAN reads
// about COUNT items a call (see ScanKeys).

// Served tells which keys are served from DynamoDB: the proxy decides by the
// stage of the key's entity (DynamoDB-authoritative stages), so a family being
// migrated is split between the stores entity by entity. r.Family is never nil.
type Served func(r *Route) bool

// KeyFilter is what SCAN's MATCH and TYPE, or KEYS' pattern, keep.
type KeyFilter struct {
	o scanOpts
}

// ParseScan parses SCAN cursor [MATCH pattern] [COUNT n] [TYPE type] (args[0] is the
// command name) as Redis 7.0 does: the cursor first, then the options left to right.
// errMsg is Redis' error reply ("ERR invalid cursor", "ERR syntax error", ...), or ""
// when the command is valid. The arity must have been checked.
func ParseScan(args [][]byte) (cursor uint64, f KeyFilter, errMsg string) {
	cursor, ok := parseScanCursor(args[1])
	if !ok {
		return 0, f, errInvalidCursor
	}
	f.o, errMsg = parseScanOpts(args[2:], true)
	return cursor, f, errMsg
}

// KeysFilter is the filter of KEYS pattern: every key for the pattern "*" (Redis skips
// matching then), otherwise the keys the glob matches.
func KeysFilter(pattern []byte) KeyFilter {
	return KeyFilter{o: scanOpts{
		pattern:    pattern,
		usePattern: !(len(pattern) == 1 && pattern[0] == '*'),
		count:      math.MaxInt64,
	}}
}

// AllKeys is the filter that keeps every key.
func AllKeys() KeyFilter { return KeysFilter([]byte("*")) }

// Count is SCAN's COUNT (10 when absent).
func (f *KeyFilter) Count() int64 { return f.o.count }

// keep reports whether a key of type kind passes the filter. TYPE compares the type
// name case-insensitively, up to the argument's first NUL byte, as Redis 7.0's
// strcasecmp does; a name that is no type keeps nothing (7.0 does not refuse it).
func (f *KeyFilter) keep(key []byte, kind Kind) bool {
	if f.o.typ != nil && !argIsKeyword(f.o.typ, kind.String()) {
		return false
	}
	return f.o.matches(key)
}

// BelongsToDynamo reports whether key (of db 0) is a key of a family served from
// DynamoDB, so a copy of it in Redis is stale and not listed. A key that matches such a
// family but is too long for its pk or sk belongs to it too: hotswap never serves it
// from Redis.
func BelongsToDynamo(m *Mapping, served Served, key []byte) bool {
	r, ok, _ := m.Route(key)
	return ok && served(&r)
}

// scanProjection is what these commands read of an item.
var (
	scanProjection = aws.String("#pk, #sk, #k, #t, #e")
	scanNames      = map[string]string{"#pk": AttrPK, "#sk": AttrSK, "#k": AttrKey, "#t": AttrType, "#e": AttrExpire}
)

// liveKey returns the Redis key an item holds and its type, when the item is a live
// key of a served family (see the top of the file). now is in Unix milliseconds.
func (e *Engine) liveKey(it map[string]types.AttributeValue, served Served, now int64) ([]byte, Kind, bool) {
	key, kind, ok := e.ownKey(it, served)
	if !ok || kind == KindNone {
		return nil, 0, false
	}
	if av, ok := it[AttrExpire]; ok {
		// Redis: a key has expired once now is past its expiry (Keyspace.Add).
		if at, ok := attrInt(av); ok && at != 0 && at < now {
			return nil, 0, false
		}
	}
	return key, kind, true
}

// ownKey returns the key of an item that belongs to a served family, tombstones and
// expired items included (kind is KindNone for a tombstone).
func (e *Engine) ownKey(it map[string]types.AttributeValue, served Served) ([]byte, Kind, bool) {
	av, ok := it[AttrKey]
	if !ok {
		return nil, 0, false
	}
	key, ok := attrBytes(av)
	if !ok || len(key) == 0 {
		return nil, 0, false
	}
	r, ok, err := e.m.Route(key)
	if !ok || err != nil || !served(&r) {
		return nil, 0, false
	}
	pk, _ := it[AttrPK].(*types.AttributeValueMemberS)
	sk, _ := it[AttrSK].(*types.AttributeValueMemberS)
	if pk == nil || sk == nil || pk.Value != r.PK || sk.Value != r.SK {
		return nil, 0, false
	}
	kind := r.Family.Kind
	if t, ok := it[AttrType].(*types.AttributeValueMemberS); ok {
		switch t.Value {
		case typeTombstone:
			kind = KindNone
		case "string":
			kind = KindString
		case "hash":
			kind = KindHash
		case "set":
			kind = KindSet
		default:
			return nil, 0, false
		}
	}
	return key, kind, true
}

// scanPage runs one Scan call, bounded by the engine's timeout.
func (e *Engine) scanPage(ctx context.Context, in *dynamodb.ScanInput) (*dynamodb.ScanOutput, error) {
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	in.TableName = e.table
	in.ConsistentRead = aws.Bool(true)
	if in.ProjectionExpression == nil {
		in.ProjectionExpression = scanProjection
		in.ExpressionAttributeNames = scanNames
	}
	out, err := e.db.Scan(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("dynamodb: scan: %w", err)
	}
	return out, nil
}

// scanLimit turns a COUNT into Scan's Limit.
func scanLimit(n int64) *int32 {
	return aws.Int32(int32(min(max(n, 1), math.MaxInt32)))
}

// ScanPos is where a scan of the table stands: Scan's LastEvaluatedKey, nil at the
// start. It is not changed once returned.
type ScanPos map[string]types.AttributeValue

// ScanKeys reads the table from pos and returns the live keys that pass f (in table
// order) and the position to go on from, nil at the end. Scan's pagination returns
// every item that is in the table for the whole walk, so SCAN keeps Redis' guarantee.
//
// COUNT is followed as Redis follows it: Redis visits hash buckets until it has seen
// COUNT buckets holding keys (MATCH and TYPE filter after that), or 10*COUNT buckets in
// all; here a live key is a full bucket and an item that is no key (a tombstone, an
// expired key, another family's item) an empty one. So a table of tombstones alone
// does not give page after page of nothing, and an empty keyspace ends at once.
func (e *Engine) ScanKeys(ctx context.Context, served Served, f *KeyFilter, pos ScanPos) (keys [][]byte, next ScanPos, err error) {
	want := f.Count()
	maxSeen := want * 10
	if maxSeen/10 != want {
		maxSeen = math.MaxInt64
	}
	var live, seen int64
	for {
		out, err := e.scanPage(ctx, &dynamodb.ScanInput{ExclusiveStartKey: pos, Limit: scanLimit(want - live)})
		if err != nil {
			return nil, nil, err
		}
		now := e.now().UnixMilli()
		for _, it := range out.Items {
			if key, kind, ok := e.liveKey(it, served, now); ok {
				live++
				if f.keep(key, kind) {
					keys = append(keys, key)
				}
			}
		}
		seen += int64(out.ScannedCount)
		pos = out.LastEvaluatedKey
		if len(pos) == 0 {
			return keys, nil, nil
		}
		if live >= want || seen >= maxSeen {
			return keys, pos, nil
		}
	}
}

// Keys returns every live key that passes f: KEYS.
func (e *Engine) Keys(ctx context.Context, served Served, f *KeyFilter) ([][]byte, error) {
	all := *f
	all.o.count = math.MaxInt64
	var keys [][]byte
	var pos ScanPos
	for {
		page, next, err := e.ScanKeys(ctx, served, &all, pos)
		if err != nil {
			return nil, err
		}
		keys = append(keys, page...)
		if next == nil {
			return keys, nil
		}
		pos = next
	}
}

// CountKeys counts the live keys: DBSIZE's DynamoDB part. It reads the whole table;
// unlike Redis' DBSIZE, keys that have expired are not counted (Redis counts those it
// has not reclaimed yet).
func (e *Engine) CountKeys(ctx context.Context, served Served) (int64, error) {
	var n int64
	var pos ScanPos
	for {
		out, err := e.scanPage(ctx, &dynamodb.ScanInput{ExclusiveStartKey: pos})
		if err != nil {
			return 0, err
		}
		now := e.now().UnixMilli()
		for _, it := range out.Items {
			if _, _, ok := e.liveKey(it, served, now); ok {
				n++
			}
		}
		pos = out.LastEvaluatedKey
		if len(pos) == 0 {
			return n, nil
		}
	}
}

// randomSegments splits the table for RandomKey: a random segment is a random place to
// start reading from.
const randomSegments = 16

// RandomKey returns a live key picked at random, and false when there is none. It reads
// the first page holding a live key of a segment chosen at random (Scan's parallel
// segments), then of the following segments: not uniform, as Redis' RANDOMKEY is not
// quite either, but any key can come out. An empty table costs a read of the whole
// table.
func (e *Engine) RandomKey(ctx context.Context, served Served) ([]byte, bool, error) {
	rng := e.rngPool.Get().(*rand.Rand)
	defer e.rngPool.Put(rng)
	first := rng.IntN(randomSegments)
	for i := range randomSegments {
		seg := int32((first + i) % randomSegments)
		var pos ScanPos
		for {
			out, err := e.scanPage(ctx, &dynamodb.ScanInput{
				ExclusiveStartKey: pos,
				Segment:           aws.Int32(seg),
				TotalSegments:     aws.Int32(randomSegments),
				Limit:             aws.Int32(100),
			})
			if err != nil {
				return nil, false, err
			}
			now := e.now().UnixMilli()
			var live [][]byte
			for _, it := range out.Items {
				if key, _, ok := e.liveKey(it, served, now); ok {
					live = append(live, key)
				}
			}
			if len(live) > 0 {
				return live[rng.IntN(len(live))], true, nil
			}
			pos = out.LastEvaluatedKey
			if len(pos) == 0 {
				break
			}
		}
	}
	return nil, false, nil
}

// maxBatchWrite is BatchWriteItem's limit of requests a call.
const maxBatchWrite = 25

// FlushKeys deletes every item of the served families that hotswap can name as a key
// (tombstones and expired keys included): FLUSHALL's and FLUSHDB's DynamoDB part. It
// reads the whole table and deletes with BatchWriteItem, asking again for what DynamoDB
// left unprocessed. The deletes are not conditional and not atomic: a key written while
// the flush runs may or may not survive it (Redis' flush is atomic). It returns the
// number of items deleted.
func (e *Engine) FlushKeys(ctx context.Context, served Served) (int, error) {
	deleted := 0
	var pos ScanPos
	for {
		out, err := e.scanPage(ctx, &dynamodb.ScanInput{ExclusiveStartKey: pos})
		if err != nil {
			return deleted, err
		}
		var reqs []types.WriteRequest
		for _, it := range out.Items {
			if _, _, ok := e.ownKey(it, served); ok {
				reqs = append(reqs, types.WriteRequest{DeleteRequest: &types.DeleteRequest{
					Key: map[string]types.AttributeValue{AttrPK: it[AttrPK], AttrSK: it[AttrSK]},
				}})
			}
		}
		for start := 0; start < len(reqs); start += maxBatchWrite {
			chunk := reqs[start:min(len(reqs), start+maxBatchWrite)]
			if err := e.batchWrite(ctx, chunk); err != nil {
				return deleted, err
			}
			deleted += len(chunk)
		}
		pos = out.LastEvaluatedKey
		if len(pos) == 0 {
			return deleted, nil
		}
	}
}

// batchWriteAttempts bounds the calls for one batch whose items DynamoDB keeps leaving
// unprocessed (throttling); the waits between them double from batchWriteBackoff up to
// 2s, about 8s in all.
const batchWriteAttempts = 10

// batchWriteBackoff is the first wait before asking again; a variable so tests can
// shorten it.
var batchWriteBackoff = 50 * time.Millisecond

// batchWrite runs one BatchWriteItem and retries its unprocessed items with
// exponential backoff, as AWS advises.
func (e *Engine) batchWrite(ctx context.Context, reqs []types.WriteRequest) error {
	items := map[string][]types.WriteRequest{*e.table: reqs}
	for attempt := 0; ; attempt++ {
		callCtx, cancel := context.WithTimeout(ctx, e.timeout)
		out, err := e.db.BatchWriteItem(callCtx, &dynamodb.BatchWriteItemInput{RequestItems: items})
		cancel()
		if err != nil {
			return fmt.Errorf("dynamodb: batch write item: %w", err)
		}
		if len(out.UnprocessedItems[*e.table]) == 0 {
			return nil
		}
		if attempt+1 >= batchWriteAttempts {
			return fmt.Errorf("dynamodb: batch write item: %d items still unprocessed after %d attempts", len(out.UnprocessedItems[*e.table]), attempt+1)
		}
		items = out.UnprocessedItems
		d := min(batchWriteBackoff<<attempt, 2*time.Second)
		t := time.NewTimer(d/2 + rand.N(d/2+1))
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("dynamodb: batch write item: %w", ctx.Err())
		case <-t.C:
		}
	}
}

// ---- SCAN cursors ----

// Defaults of ScanCursors.
const (
	DefaultScanCursors   = 10000
	DefaultScanCursorTTL = 10 * time.Minute
)

// maxCursorID keeps cursors below 2^53, so clients that read a cursor as a JavaScript
// number (node-redis 4) or a double do not round it.
const maxCursorID = 1 << 53

// KeyScan is where one SCAN over the keyspace stands after a page: walking Redis with
// its own cursor, then DynamoDB's table from Pos.
type KeyScan struct {
	// Owner is whoever made the cursor (a proxy server); a cursor is only valid for it.
	Owner any
	// Redis is the next Redis cursor, while InDynamo is false.
	Redis    uint64
	InDynamo bool
	// Pos is where the table walk goes on (nil: its start), once InDynamo.
	Pos ScanPos
}

// ScanCursors keeps the state of SCANs behind numeric cursors, as Redis clients expect
// them. Every page gets a cursor of its own, and a cursor stays valid after use, so a
// client may send the same cursor again (Redis allows it) until the cursor expires. The
// table is bounded: a cursor lives TTL after the page that made it, and when the table
// is full the oldest cursor goes first, so an abandoned scan costs memory only for a
// while. A cursor that expired or was pushed out is unknown: see Get. It is safe for
// concurrent use.
type ScanCursors struct {
	mu    sync.Mutex
	max   int
	ttl   time.Duration
	now   func() time.Time
	byID  map[uint64]*list.Element
	order *list.List // of *cursorEntry, oldest first
}

type cursorEntry struct {
	id      uint64
	expires time.Time
	scan    KeyScan
}

// NewScanCursors returns a table of at most max cursors (DefaultScanCursors when
// max <= 0) that live ttl each (DefaultScanCursorTTL when ttl <= 0); now is the clock
// (time.Now when nil).
func NewScanCursors(max int, ttl time.Duration, now func() time.Time) *ScanCursors {
	if max <= 0 {
		max = DefaultScanCursors
	}
	if ttl <= 0 {
		ttl = DefaultScanCursorTTL
	}
	if now == nil {
		now = time.Now
	}
	return &ScanCursors{max: max, ttl: ttl, now: now, byID: map[uint64]*list.Element{}, order: list.New()}
}

// Put records s and returns its cursor: a random number in [1, 2^53).
func (c *ScanCursors) Put(s KeyScan) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	for c.order.Len() > 0 {
		front := c.order.Front().Value.(*cursorEntry)
		if c.order.Len() < c.max && now.Before(front.expires) {
			break
		}
		c.order.Remove(c.order.Front())
		delete(c.byID, front.id)
	}
	var id uint64
	for id == 0 || c.byID[id] != nil {
		id = rand.Uint64N(maxCursorID)
	}
	c.byID[id] = c.order.PushBack(&cursorEntry{id: id, expires: now.Add(c.ttl), scan: s})
	return id
}

// Get returns the scan behind a cursor that owner made. ok is false for a cursor
// hotswap does not know (never made, expired, pushed out, or another owner's).
func (c *ScanCursors) Get(id uint64, owner any) (KeyScan, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el := c.byID[id]
	if el == nil {
		return KeyScan{}, false
	}
	en := el.Value.(*cursorEntry)
	if !c.now().Before(en.expires) {
		c.order.Remove(el)
		delete(c.byID, id)
		return KeyScan{}, false
	}
	if en.scan.Owner != owner {
		return KeyScan{}, false
	}
	return en.scan, true
}

// Len is the number of cursors held, expired ones not yet dropped included.
func (c *ScanCursors) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
