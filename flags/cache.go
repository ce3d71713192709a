package flags

import (
	"hash/maphash"
	"sync"
	"sync/atomic"

	"hotswap/translate"
)

// DefaultCacheSize is how many (flag, entity) decisions an OpenFeature Source
// keeps by default. An entry costs about 100 bytes plus the entity's length.
const DefaultCacheSize = 1 << 20

// cacheShards spreads the cache's locks; a power of two (see shard).
const cacheShards = 64

// flagState is what a Source knows of one flag key. Families that name the same
// flag share it, so they share decisions and last good stages and never disagree.
type flagState struct {
	name string
	salt uint64 // mixed into entity hashes so flags don't share hash values
	// gen is bumped when the provider reports that this flag changed; a cached
	// decision holds only while its gen is current.
	gen atomic.Uint64
}

// entry is one (flag, entity) decision. When its gen is stale it no longer
// answers lookups, but its stage is still the last good stage for fallback.
type entry struct {
	flag   *flagState
	entity string
	gen    uint64
	stage  translate.Stage // the evaluation, not yet raised to a floor
}

// cache holds decisions in shards. Each shard is a two-generation map, which
// approximates LRU without bookkeeping on hits: new decisions go to cur; when cur
// is full it becomes prev and the old prev is dropped; a hit in prev moves the
// entry back to cur. Lookups take a read lock and allocate nothing.
type cache struct {
	seed   maphash.Seed
	limit  int // entries in a shard's cur before it rotates
	shards [cacheShards]cacheShard
}

type cacheShard struct {
	mu        sync.RWMutex
	cur, prev map[uint64]entry
	hits      atomic.Uint64
	_         [40]byte // keep neighbouring shards' locks off one cache line
}

func newCache(size int) *cache {
	if size <= 0 {
		size = DefaultCacheSize
	}
	c := &cache{seed: maphash.MakeSeed(), limit: max(size/cacheShards/2, 1)}
	for i := range c.shards {
		c.shards[i].cur = make(map[uint64]entry)
	}
	return c
}

func (c *cache) newFlag(name string) *flagState {
	return &flagState{name: name, salt: maphash.String(c.seed, name)}
}

// hash places (fs, entity) in the cache. Different pairs may share a hash: the
// entry names its flag and entity, and get checks both.
func (c *cache) hash(fs *flagState, entity []byte) uint64 {
	return maphash.Bytes(c.seed, entity) ^ fs.salt
}

func (c *cache) shard(h uint64) *cacheShard { return &c.shards[h>>58] } // 64 shards: top 6 bits

// get returns the entry of (fs, entity) whatever its gen.
func (c *cache) get(sh *cacheShard, h uint64, fs *flagState, entity []byte) (entry, bool) {
	sh.mu.RLock()
	e, ok := sh.cur[h]
	inPrev := false
	if !ok || e.flag != fs || e.entity != string(entity) {
		e, ok = sh.prev[h]
		inPrev = true
	}
	sh.mu.RUnlock()
	if !ok || e.flag != fs || e.entity != string(entity) {
		return entry{}, false
	}
	if inPrev {
		sh.mu.Lock()
		c.insertLocked(sh, h, e)
		sh.mu.Unlock()
	}
	return e, true
}

// put stores a decision unless a newer one for the same pair is already there.
func (c *cache) put(sh *cacheShard, h uint64, e entry) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if old, ok := sh.cur[h]; ok && old.flag == e.flag && old.entity == e.entity && old.gen > e.gen {
		return
	}
	c.insertLocked(sh, h, e)
}

func (c *cache) insertLocked(sh *cacheShard, h uint64, e entry) {
	if _, ok := sh.cur[h]; !ok && len(sh.cur) >= c.limit {
		sh.prev, sh.cur = sh.cur, make(map[uint64]entry, c.limit)
	}
	sh.cur[h] = e
	// A copy left in prev would be found first after the next rotation.
	delete(sh.prev, h)
}

func (c *cache) stats() (hits uint64, entries int) {
	for i := range c.shards {
		sh := &c.shards[i]
		hits += sh.hits.Load()
		sh.mu.RLock()
		entries += len(sh.cur) + len(sh.prev)
		sh.mu.RUnlock()
	}
	return hits, entries
}
