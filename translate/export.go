package translate

import (
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// This file exports the item layout (item.go) to the tools that copy and compare whole
// keys outside the command path: backfill, reverse backfill and verify (package
// migrate). They must read and write items exactly as the engine does.

// TypeTombstone is AttrType of a deleted key's item.
const TypeTombstone = typeTombstone

// ItemKey returns the primary key (pk, sk) of a route's item.
func ItemKey(r *Route) map[string]types.AttributeValue { return itemKey(r) }

// EncodeItem returns the whole item for key holding v at version ver, as the engine
// writes it; v nil (or empty) is a tombstone that DynamoDB's TTL may remove at
// tombstoneExp (Unix seconds). It fails, with a Redis-style message, when the item
// would be beyond DynamoDB's limits (400 KB, attribute names of 64 KB).
func EncodeItem(r *Route, key []byte, v *Value, ver, tombstoneExp int64) (map[string]types.AttributeValue, error) {
	if v != nil && v.Empty() {
		v = nil
	}
	return encodeItem(r, key, v, ver, tombstoneExp)
}

// ItemState is what an item holds for a key, as DecodeItem reads it.
type ItemState struct {
	// Value is nil for a tombstone or an item without data. It is returned even when
	// it has expired: Live tells.
	Value *Value
	// Version is _ver (0 when absent: an item another service wrote).
	Version int64
	// Key is the Redis key stored in _key (nil when absent).
	Key []byte
	// Tombstone is set when the item is a deleted key's tombstone.
	Tombstone bool
}

// Live returns the value a reader sees at nowMS (Unix ms): nil when the item is a
// tombstone, holds nothing, or has expired.
func (s ItemState) Live(nowMS int64) *Value {
	if s.Value == nil || (s.Value.ExpireAt > 0 && s.Value.ExpireAt <= nowMS) {
		return nil
	}
	return s.Value
}

// DecodeItem reads an item written by EncodeItem (or natively by another service: its
// kind is then the family's).
func DecodeItem(r *Route, it map[string]types.AttributeValue) (ItemState, error) {
	d, err := decodeItem(r, it)
	if err != nil {
		return ItemState{}, err
	}
	t, _ := it[AttrType].(*types.AttributeValueMemberS)
	return ItemState{Value: d.val, Version: d.version, Key: d.key, Tombstone: t != nil && t.Value == typeTombstone}, nil
}

// ItemRedisKey returns the Redis key an item stores in _key (ok false without one:
// control items, items other services wrote).
func ItemRedisKey(it map[string]types.AttributeValue) ([]byte, bool) {
	av, ok := it[AttrKey]
	if !ok {
		return nil, false
	}
	return attrBytes(av)
}

// ScanGlob returns a Redis glob pattern (SCAN ... MATCH) that every key of the family
// matches: the match's literal text, escaped, with each placeholder as `*`. It may
// match more keys than the family (a `*` also spans ':', and other families' keys for a
// catch-all): route each key to check it belongs to the family.
func (f *Family) ScanGlob() string {
	elems, err := parsePattern(f.Match)
	if err != nil {
		return "*" // a loaded family's match always parses
	}
	var b strings.Builder
	for _, e := range elems {
		if e.name != "" {
			if !strings.HasSuffix(b.String(), "*") {
				b.WriteByte('*')
			}
			continue
		}
		for i := 0; i < len(e.lit); i++ {
			switch c := e.lit[i]; c {
			case '*', '?', '[', ']', '\\':
				b.WriteByte('\\')
				b.WriteByte(c)
			default:
				b.WriteByte(c)
			}
		}
	}
	return b.String()
}

// PKPrefix returns the literal text every pk of the family starts with ("" when the pk
// template starts with a placeholder): a Scan for the family's items can filter on
// begins_with(pk, prefix).
func (f *Family) PKPrefix() string {
	elems, err := parsePattern(f.PK)
	if err != nil || len(elems) == 0 || elems[0].name != "" {
		return ""
	}
	return elems[0].lit
}
