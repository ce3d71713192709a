package dual

import "sync"

// Coalescing: under a hot key, copies of one key queue up faster than the store
// takes them, and each carries the key's whole state. Only the newest needs
// writing: a worker skips a copy when a newer one of the same key (same direction)
// is queued behind it. The skipped copy's journal entry was already replaced by
// the newer write's, which the newer copy clears; if that copy fails, the entry
// stays for the repairer. Nothing is lost, and a backlog of N writes to K keys
// costs about K store writes instead of N.

type newestShard struct {
	mu sync.Mutex
	m  map[string]int64 // direction byte + key → newest queued version
}

func newestKey(j *job) string {
	d := byte('>')
	if j.toRedis {
		d = '<'
	}
	return string(d) + string(j.key)
}

func (s *Syncer) newestShard(k string) *newestShard {
	var h uint32 = 2166136261
	for i := 0; i < len(k); i++ {
		h = (h ^ uint32(k[i])) * 16777619
	}
	return &s.newest[h%inflightShards]
}

// noteQueued records j as queued.
func (s *Syncer) noteQueued(j *job) {
	k := newestKey(j)
	sh := s.newestShard(k)
	sh.mu.Lock()
	if sh.m == nil {
		sh.m = map[string]int64{}
	}
	if v, ok := sh.m[k]; !ok || j.version > v {
		sh.m[k] = j.version
	}
	sh.mu.Unlock()
}

// stale reports whether a newer copy of j's key is queued.
func (s *Syncer) stale(j *job) bool {
	k := newestKey(j)
	sh := s.newestShard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	v, ok := sh.m[k]
	return ok && v > j.version
}

// noteDone forgets j's key once the newest copy of it has been handled.
func (s *Syncer) noteDone(j *job) {
	k := newestKey(j)
	sh := s.newestShard(k)
	sh.mu.Lock()
	if v, ok := sh.m[k]; ok && v <= j.version {
		delete(sh.m, k)
	}
	sh.mu.Unlock()
}
