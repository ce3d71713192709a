package translate

// Kind is the Redis type of a value, as TYPE names it.
type Kind uint8

// The kinds a family can hold. KindNone is a missing key (and, in a mapping, a
// catch-all family whose kind comes from the first write).
const (
	KindNone Kind = iota
	KindString
	KindHash
	KindSet
)

// String returns the name TYPE replies with.
func (k Kind) String() string {
	switch k {
	case KindString:
		return "string"
	case KindHash:
		return "hash"
	case KindSet:
		return "set"
	}
	return "none"
}

// Value is one Redis key's value as hotswap holds it in memory while a command runs.
// Exactly one of Str, Hash or Set is meaningful, chosen by Kind. Map keys are the raw
// bytes of fields and members converted to string (binary safe).
type Value struct {
	Kind Kind
	Str  []byte
	Hash map[string][]byte
	Set  map[string]struct{}
	// ExpireAt is the expiry in Unix milliseconds; 0 means the key does not expire.
	ExpireAt int64
}

// NewString returns a string value holding b.
func NewString(b []byte) *Value { return &Value{Kind: KindString, Str: b} }

// NewHash returns an empty hash value.
func NewHash() *Value { return &Value{Kind: KindHash, Hash: map[string][]byte{}} }

// NewSet returns an empty set value.
func NewSet() *Value { return &Value{Kind: KindSet, Set: map[string]struct{}{}} }

// Len is the number of elements: fields, members, or the string's length.
func (v *Value) Len() int {
	switch v.Kind {
	case KindString:
		return len(v.Str)
	case KindHash:
		return len(v.Hash)
	case KindSet:
		return len(v.Set)
	}
	return 0
}

// Empty reports whether the value holds nothing, which Redis represents as no key:
// a hash without fields or a set without members. An empty string is a key.
func (v *Value) Empty() bool {
	switch v.Kind {
	case KindHash:
		return len(v.Hash) == 0
	case KindSet:
		return len(v.Set) == 0
	case KindString:
		return false
	}
	return true
}

// Clone returns a deep copy of v.
func (v *Value) Clone() *Value {
	if v == nil {
		return nil
	}
	c := &Value{Kind: v.Kind, ExpireAt: v.ExpireAt}
	switch v.Kind {
	case KindString:
		c.Str = append([]byte(nil), v.Str...)
	case KindHash:
		c.Hash = make(map[string][]byte, len(v.Hash))
		for f, x := range v.Hash {
			c.Hash[f] = append([]byte(nil), x...)
		}
	case KindSet:
		c.Set = make(map[string]struct{}, len(v.Set))
		for m := range v.Set {
			c.Set[m] = struct{}{}
		}
	}
	return c
}
