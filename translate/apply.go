package translate

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// ApplyState writes a key's whole state, read from the authoritative store (Redis)
// with its version, as a secondary write: one PutItem that applies only if the item's
// version is older, so a late or repeated copy never overwrites a newer state (or a
// newer delete). v nil is a deleted key: a tombstone at that version. It reports
// applied false when the item already held this version or a newer one, which is
// success for the caller (DESIGN.md §5).
func (e *Engine) ApplyState(ctx context.Context, r *Route, key []byte, v *Value, version int64) (applied bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	if v != nil && v.Empty() {
		v = nil
	}
	it, err := encodeItem(r, key, v, version, e.now().Add(e.tombTTL).Unix())
	if err != nil {
		return false, err
	}
	_, err = e.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                 e.table,
		Item:                      it,
		ConditionExpression:       aws.String("attribute_not_exists(#pk) OR attribute_not_exists(#ver) OR #ver < :ver"),
		ExpressionAttributeNames:  map[string]string{"#pk": AttrPK, "#ver": AttrVersion},
		ExpressionAttributeValues: map[string]types.AttributeValue{":ver": numAttr(version)},
	})
	if err == nil {
		return true, nil
	}
	if isConditionFailed(err) {
		return false, nil
	}
	return false, fmt.Errorf("dynamodb: apply state of %q: %w", key, err)
}

// ReadState reads a key's whole state and version with a strongly consistent read: nil
// for a missing key, a tombstone or an expired item (the version is still returned).
func (e *Engine) ReadState(ctx context.Context, r *Route, key []byte) (*Value, int64, error) {
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	ks := NewKeyspace(e.now().UnixMilli(), nil)
	if err := e.load(ctx, ks, [][]byte{key}, []int{0}, []Route{*r}, true); err != nil {
		return nil, 0, err
	}
	en := ks.Entry(key)
	return en.Loaded.Clone(), en.Version, nil
}
