package translate

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"hotswap/proxy/command"
)

// Bookkeeping attributes of every item hotswap writes (docs/MAPPING.md). They start
// with "_", which hash field names never do on their own: a field that starts with "_"
// is stored escaped, so the two never collide.
const (
	AttrPK      = "pk"    // partition key (S)
	AttrSK      = "sk"    // sort key (S)
	AttrType    = "_type" // "string", "hash", "set", or "tombstone" for a deleted key
	AttrVersion = "_ver"  // N: increases with every authoritative write
	AttrWrite   = "_w"    // S: the token of the write that put the item (general path): a retried write finds itself
	AttrExpire  = "_exp"  // N: expiry in Unix milliseconds (absent: no expiry)
	AttrTTL     = "_ttl"  // N: expiry in Unix seconds, DynamoDB's TTL attribute (cleanup only)
	AttrKey     = "_key"  // S or B: the Redis key, byte for byte
	AttrValue   = "v"     // string value (S, B or N)
	AttrMembers = "m"     // set members (SS or BS)
)

// Limits of DynamoDB that a write must stay within.
const (
	MaxItemBytes = 400 * 1024 // an item, names and values included
	MaxPKBytes   = 2048
	MaxSKBytes   = 1024
	maxAttrName  = 65535 // bytes of a non-key attribute name
)

// typeTombstone is AttrType of a deleted key's item: the version stays so a late copy
// cannot resurrect the key and WATCH sees delete-then-recreate.
const typeTombstone = "tombstone"

// escapePrefix starts an escaped hash field name: "_~" then the field's bytes in
// unpadded base64url. Bookkeeping attributes start with "_" but never "_~".
const escapePrefix = "_~"

// fieldAttr returns the attribute name a hash field is stored under: the field itself
// when it is a valid non-empty UTF-8 name that cannot be confused with a key or
// bookkeeping attribute, its escaped form otherwise.
func fieldAttr(f string) string {
	if f != "" && f[0] != '_' && f != AttrPK && f != AttrSK && utf8.ValidString(f) {
		return f
	}
	return escapePrefix + base64.RawURLEncoding.EncodeToString([]byte(f))
}

// attrField reverses fieldAttr. ok is false for bookkeeping and key attributes.
func attrField(name string) (f string, ok bool) {
	if name == AttrPK || name == AttrSK {
		return "", false
	}
	if strings.HasPrefix(name, escapePrefix) {
		b, err := base64.RawURLEncoding.DecodeString(name[len(escapePrefix):])
		if err != nil {
			return "", false
		}
		return string(b), true
	}
	if strings.HasPrefix(name, "_") {
		return "", false
	}
	return name, true
}

// bytesAttr stores bytes as S when they are valid UTF-8, B otherwise; a declared
// numeric value that is a canonical integer is stored as N.
func bytesAttr(b []byte, numeric bool) types.AttributeValue {
	if numeric && isCanonicalInt(b) {
		return &types.AttributeValueMemberN{Value: string(b)}
	}
	if utf8.Valid(b) {
		return &types.AttributeValueMemberS{Value: string(b)}
	}
	return &types.AttributeValueMemberB{Value: b}
}

// isCanonicalInt reports whether b is an integer written the way Redis writes it, so
// storing it as N and reading it back gives the same bytes.
func isCanonicalInt(b []byte) bool {
	n, ok := command.ParseInt(b)
	if !ok {
		return false
	}
	var buf [24]byte
	return string(strconv.AppendInt(buf[:0], n, 10)) == string(b)
}

// attrBytes reads bytes stored by bytesAttr (or by another writer as S, B or N).
func attrBytes(av types.AttributeValue) ([]byte, bool) {
	switch v := av.(type) {
	case *types.AttributeValueMemberS:
		return []byte(v.Value), true
	case *types.AttributeValueMemberB:
		return v.Value, true
	case *types.AttributeValueMemberN:
		return []byte(v.Value), true
	case *types.AttributeValueMemberBOOL:
		if v.Value {
			return []byte("1"), true
		}
		return []byte("0"), true
	}
	return nil, false
}

func numAttr(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

func attrInt(av types.AttributeValue) (int64, bool) {
	v, ok := av.(*types.AttributeValueMemberN)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(v.Value, 10, 64)
	return n, err == nil
}

// itemKey is the primary key of a route's item.
func itemKey(r *Route) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		AttrPK: &types.AttributeValueMemberS{Value: r.PK},
		AttrSK: &types.AttributeValueMemberS{Value: r.SK},
	}
}

// encodeItem returns the item for key holding v at version ver. v nil gives a
// tombstone that expires at tombstoneExp (Unix seconds).
func encodeItem(r *Route, key []byte, v *Value, ver int64, tombstoneExp int64) (map[string]types.AttributeValue, error) {
	it := itemKey(r)
	if utf8.Valid(key) {
		it[AttrKey] = &types.AttributeValueMemberS{Value: string(key)}
	} else {
		it[AttrKey] = &types.AttributeValueMemberB{Value: key}
	}
	it[AttrVersion] = numAttr(ver)
	if v == nil {
		it[AttrType] = &types.AttributeValueMemberS{Value: typeTombstone}
		it[AttrTTL] = numAttr(tombstoneExp)
		return it, nil
	}
	it[AttrType] = &types.AttributeValueMemberS{Value: v.Kind.String()}
	if v.ExpireAt > 0 {
		it[AttrExpire] = numAttr(v.ExpireAt)
		// DynamoDB's TTL is in seconds and only for cleanup: round up so the item is
		// never removed before Redis would have expired it.
		it[AttrTTL] = numAttr((v.ExpireAt + 999) / 1000)
	}
	fam := r.Family
	switch v.Kind {
	case KindString:
		it[AttrValue] = bytesAttr(v.Str, fam != nil && fam.Numeric[""])
	case KindHash:
		for f, x := range v.Hash {
			name := fieldAttr(f)
			if len(name) > maxAttrName {
				return nil, fmt.Errorf("ERR hotswap: hash field of %d bytes is too long for DynamoDB (family %s)", len(f), famName(r))
			}
			it[name] = bytesAttr(x, fam != nil && fam.Numeric[f])
		}
	case KindSet:
		var ss []string
		var bs [][]byte
		allUTF8 := true
		for m := range v.Set {
			if m == "" {
				it[attrEmptyMember] = &types.AttributeValueMemberBOOL{Value: true}
				continue
			}
			if allUTF8 && !utf8.ValidString(m) {
				allUTF8 = false
			}
		}
		for m := range v.Set {
			if m == "" {
				continue
			}
			if allUTF8 {
				ss = append(ss, m)
			} else {
				bs = append(bs, []byte(m))
			}
		}
		switch {
		case len(ss) > 0:
			it[AttrMembers] = &types.AttributeValueMemberSS{Value: ss}
		case len(bs) > 0:
			it[AttrMembers] = &types.AttributeValueMemberBS{Value: bs}
		}
	}
	if n := itemSize(it); n > MaxItemBytes {
		return nil, fmt.Errorf("ERR hotswap: the value is too large for DynamoDB: the item would be %d bytes, the limit is %d (family %s)", n, MaxItemBytes, famName(r))
	}
	return it, nil
}

// attrEmptyMember marks a set that contains the empty string, which DynamoDB sets
// cannot hold.
const attrEmptyMember = "_empty"

func famName(r *Route) string {
	if r.Family == nil {
		return "?"
	}
	return r.Family.Name
}

// decoded is what an item holds for a key.
type decoded struct {
	val     *Value // nil: tombstone (or an item with no data)
	version int64
	key     []byte // the Redis key stored in the item (nil when absent)
}

// decodeItem reads an item written by encodeItem, or written natively by another
// service (no bookkeeping attributes: its kind is the family's, version 0).
func decodeItem(r *Route, it map[string]types.AttributeValue) (decoded, error) {
	var d decoded
	if av, ok := it[AttrKey]; ok {
		d.key, _ = attrBytes(av)
	}
	if av, ok := it[AttrVersion]; ok {
		d.version, _ = attrInt(av)
	}
	kind := KindNone
	if r.Family != nil {
		kind = r.Family.Kind
	}
	if av, ok := it[AttrType].(*types.AttributeValueMemberS); ok {
		switch av.Value {
		case typeTombstone:
			return d, nil
		case "string":
			kind = KindString
		case "hash":
			kind = KindHash
		case "set":
			kind = KindSet
		default:
			return d, fmt.Errorf("ERR hotswap: item %s/%s has unknown type %q", r.PK, r.SK, av.Value)
		}
	}
	v := &Value{Kind: kind}
	if av, ok := it[AttrExpire]; ok {
		v.ExpireAt, _ = attrInt(av)
	}
	switch kind {
	case KindString:
		b, ok := attrBytes(it[AttrValue])
		if !ok {
			return d, nil // no value: treat as missing
		}
		v.Str = b
	case KindHash:
		v.Hash = make(map[string][]byte, len(it))
		for name, av := range it {
			f, ok := attrField(name)
			if !ok {
				continue
			}
			if b, ok := attrBytes(av); ok {
				v.Hash[f] = b
			}
		}
	case KindSet:
		v.Set = map[string]struct{}{}
		switch m := it[AttrMembers].(type) {
		case *types.AttributeValueMemberSS:
			for _, s := range m.Value {
				v.Set[s] = struct{}{}
			}
		case *types.AttributeValueMemberBS:
			for _, b := range m.Value {
				v.Set[string(b)] = struct{}{}
			}
		case *types.AttributeValueMemberNS:
			for _, s := range m.Value {
				v.Set[s] = struct{}{}
			}
		}
		if e, ok := it[attrEmptyMember].(*types.AttributeValueMemberBOOL); ok && e.Value {
			v.Set[""] = struct{}{}
		}
	default:
		return d, fmt.Errorf("ERR hotswap: item %s/%s has no type and its family does not declare one", r.PK, r.SK)
	}
	if v.Empty() {
		return d, nil
	}
	d.val = v
	return d, nil
}

// itemSize estimates an item's size as DynamoDB counts it: attribute names plus values
// (numbers counted as their decimal text, a safe upper bound).
func itemSize(it map[string]types.AttributeValue) int {
	n := 0
	for name, av := range it {
		n += len(name)
		switch v := av.(type) {
		case *types.AttributeValueMemberS:
			n += len(v.Value)
		case *types.AttributeValueMemberB:
			n += len(v.Value)
		case *types.AttributeValueMemberN:
			n += len(v.Value)
		case *types.AttributeValueMemberBOOL:
			n++
		case *types.AttributeValueMemberSS:
			for _, s := range v.Value {
				n += len(s)
			}
		case *types.AttributeValueMemberBS:
			for _, b := range v.Value {
				n += len(b)
			}
		}
	}
	return n
}
