package translate

import "math/rand/v2"

// Keyspace is the view a command runs against: every key the command names (its key
// positions in the command table), loaded from the store before it runs. Handlers are
// pure functions over a Keyspace: they do no I/O, so a command is re-run from a fresh
// load when a conditional write finds that another writer got there first, and the
// commands of a MULTI run one after another over one Keyspace.
//
// A handler may change the *Value that Get returns in place, and must then call Put with
// it; Put of nil or of an empty hash or set deletes the key, as Redis does.
type Keyspace struct {
	now     int64 // Unix milliseconds, fixed for the whole execution
	rng     *rand.Rand
	entries map[string]*Entry
	order   []string // keys in the order they were added, for deterministic commits
	// maxValue, when positive, bounds the strings APPEND and SETRANGE may build
	// (bytes): the engine sets DynamoDB's item size.
	maxValue int64
}

// Entry is one key of a Keyspace: what the store held when it was loaded and what the
// commands have made of it.
type Entry struct {
	Key []byte
	// Loaded is the value as read from the store (nil: no such key, a tombstone or an
	// expired item). Version is the item's version (0: no item at all) and Exists whether
	// any item (tombstone included) was there.
	Loaded  *Value
	Version int64
	Exists  bool
	// Cur is the value now; Dirty says whether the commands wrote the key.
	Cur   *Value
	Dirty bool
}

// NewKeyspace returns an empty Keyspace at time now (Unix ms) using rng for the
// commands that pick at random (SPOP, SRANDMEMBER, HRANDFIELD).
func NewKeyspace(now int64, rng *rand.Rand) *Keyspace {
	return &Keyspace{now: now, rng: rng, entries: map[string]*Entry{}}
}

// Add records what the store holds for key. v is nil for a missing key; a value whose
// expiry is before now counts as missing (Redis: a key expires once now > its expiry).
func (ks *Keyspace) Add(key []byte, v *Value, version int64, exists bool) {
	if v != nil && v.ExpireAt != 0 && v.ExpireAt < ks.now {
		v = nil
	}
	if v != nil && v.Empty() {
		v = nil
	}
	k := string(key)
	if _, ok := ks.entries[k]; !ok {
		ks.order = append(ks.order, k)
	}
	ks.entries[k] = &Entry{Key: []byte(k), Loaded: v, Version: version, Exists: exists, Cur: v.Clone()}
}

// SetMaxValue bounds the strings APPEND and SETRANGE may build, in bytes (0: only
// Redis' own 512 MB limit).
func (ks *Keyspace) SetMaxValue(n int64) { ks.maxValue = n }

// Has reports whether key was loaded into the Keyspace.
func (ks *Keyspace) Has(key []byte) bool { _, ok := ks.entries[string(key)]; return ok }

// Now is the time of the execution in Unix milliseconds.
func (ks *Keyspace) Now() int64 { return ks.now }

// SetNow moves the execution's clock (tests, and MULTI which runs its commands at one time).
func (ks *Keyspace) SetNow(ms int64) { ks.now = ms }

// Rand is the random source for SPOP, SRANDMEMBER and HRANDFIELD.
func (ks *Keyspace) Rand() *rand.Rand { return ks.rng }

// Get returns the current value of key, or nil when the key does not exist or has
// expired. It panics if key was not loaded: the engine loads every key the command
// table names, so that is a bug in key positions, not a user error.
func (ks *Keyspace) Get(key []byte) *Value {
	e := ks.entry(key)
	if e.Cur != nil && e.Cur.ExpireAt != 0 && e.Cur.ExpireAt < ks.now {
		return nil
	}
	return e.Cur
}

// Put sets the value of key. nil, an empty hash and an empty set delete the key.
func (ks *Keyspace) Put(key []byte, v *Value) {
	e := ks.entry(key)
	if v != nil && v.Empty() {
		v = nil
	}
	e.Cur = v
	e.Dirty = true
}

// Del deletes key and reports whether it existed.
func (ks *Keyspace) Del(key []byte) bool {
	existed := ks.Get(key) != nil
	if existed {
		ks.Put(key, nil)
	}
	return existed
}

// Entries returns the keys in the order they were added.
func (ks *Keyspace) Entries() []*Entry {
	out := make([]*Entry, 0, len(ks.order))
	for _, k := range ks.order {
		out = append(out, ks.entries[k])
	}
	return out
}

// Entry returns the entry of a loaded key, or nil.
func (ks *Keyspace) Entry(key []byte) *Entry { return ks.entries[string(key)] }

func (ks *Keyspace) entry(key []byte) *Entry {
	e, ok := ks.entries[string(key)]
	if !ok {
		panic("translate: key not loaded: " + string(key))
	}
	return e
}
