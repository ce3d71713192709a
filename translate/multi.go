package translate

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
)

// Watch is a key a client WATCHes: its version when WATCH ran. EXEC aborts if the
// key's item changed since, which with versions and tombstones also catches a key
// deleted and created again, as Redis does.
type Watch struct {
	Key     []byte
	Route   Route
	Version int64
	Exists  bool
	// HadValue: the key had a value (not missing, expired or a tombstone) at WATCH time.
	HadValue bool
}

// Watch reads the versions of keys for a WATCH.
func (e *Engine) Watch(ctx context.Context, keys [][]byte, routes []Route) ([]Watch, error) {
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	ks := NewKeyspace(e.now().UnixMilli(), nil)
	idx := make([]int, len(keys))
	for i := range keys {
		idx[i] = i
	}
	if err := e.load(ctx, ks, keys, idx, routes, true); err != nil {
		return nil, err
	}
	out := make([]Watch, 0, len(keys))
	for i, k := range keys {
		en := ks.Entry(k)
		out = append(out, Watch{Key: append([]byte(nil), k...), Route: routes[i], Version: en.Version, Exists: en.Exists, HadValue: en.Loaded != nil})
	}
	return out, nil
}

// ExecMulti runs the commands of a MULTI on DynamoDB keys as one transaction: it reads
// every key the commands and the WATCHes name, returns a null array (EXEC's reply to a
// failed WATCH) if a watched key changed, runs the commands in memory one after
// another, and writes what changed with one TransactWriteItems conditioned on every
// version read. If another writer got there first, it starts again. It appends EXEC's
// reply to dst.
func (e *Engine) ExecMulti(ctx context.Context, proto int, cmds []*Cmd, watches []Watch, dst []byte) []byte {
	e.stats.commands.Add(1)
	r := Reply{buf: dst, proto: proto}
	start := len(r.buf)
	for _, c := range cmds {
		if _, ok := e.handlers[c.Info.Name]; !ok {
			r.Error(fmt.Sprintf("ERR hotswap: %s is not supported in a transaction on keys of a DynamoDB family (family %s)", strings.ToUpper(c.Info.Name), familyNames(c.Routes)))
			return r.buf
		}
	}
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	// All the keys, once, in order: watched keys first.
	var args [][]byte
	var routes []Route
	seen := map[string]bool{}
	add := func(k []byte, rt Route) {
		if !seen[string(k)] {
			seen[string(k)] = true
			args = append(args, k)
			routes = append(routes, rt)
		}
	}
	for _, w := range watches {
		add(w.Key, w.Route)
	}
	for _, c := range cmds {
		for i, ki := range c.Keys {
			add(c.Args[ki], c.Routes[i])
		}
	}
	idx := make([]int, len(args))
	for i := range idx {
		idx[i] = i
	}
	rng := e.rngPool.Get().(*rand.Rand)
	defer e.rngPool.Put(rng)
	for attempt := 0; ; attempt++ {
		r.Truncate(start)
		ks := NewKeyspace(e.now().UnixMilli(), rng)
		ks.SetMaxValue(MaxItemBytes)
		if err := e.load(ctx, ks, args, idx, routes, true); err != nil {
			return e.fail(&r, start, err)
		}
		for _, w := range watches {
			en := ks.Entry(w.Key)
			if en.Version != w.Version || en.Exists != w.Exists || (en.Loaded != nil) != w.HadValue {
				r.NullArray()
				return r.buf
			}
		}
		r.Array(len(cmds))
		for _, c := range cmds {
			if !c.Info.ArityOK(len(c.Args)) {
				r.Error("ERR wrong number of arguments for '" + c.Info.Name + "' command")
				continue
			}
			mark := r.Len()
			e.handlers[c.Info.Name](ks, &r, c.Args)
			if err := checkKinds(ks, c.Args, c.Keys, c.Routes, c.Info.Name); err != nil {
				// The value cannot be stored: the whole transaction fails, since its
				// other commands already changed the keyspace it would commit.
				r.Truncate(mark)
				return e.fail(&r, start, err)
			}
		}
		err := e.commitAll(ctx, ks, args, idx, routes)
		if err == nil {
			for _, c := range cmds {
				if c.OnWrite != nil {
					written(ks, args, idx, routes, c.OnWrite)
					break
				}
			}
			return r.buf
		}
		if !errors.Is(err, errConflict) {
			return e.fail(&r, start, err)
		}
		e.stats.conflicts.Add(1)
		if attempt+1 >= e.attempts {
			return e.fail(&r, start, fmt.Errorf("ERR hotswap: EXEC lost %d races with other writers of its keys; try again", attempt+1))
		}
		if err := sleepJitter(ctx, attempt); err != nil {
			return e.fail(&r, start, err)
		}
	}
}

// commitAll is commit for a transaction: with several keys it must be atomic, so a
// store without TransactWriteItems gets an error instead of partial writes.
func (e *Engine) commitAll(ctx context.Context, ks *Keyspace, args [][]byte, idx []int, routes []Route) error {
	return e.commit(ctx, ks, args, idx, routes, true)
}

// WatchesHold reports whether no watched key changed since its WATCH.
func (e *Engine) WatchesHold(ctx context.Context, watches []Watch) (bool, error) {
	keys := make([][]byte, len(watches))
	routes := make([]Route, len(watches))
	for i, w := range watches {
		keys[i], routes[i] = w.Key, w.Route
	}
	now, err := e.Watch(ctx, keys, routes)
	if err != nil {
		return false, err
	}
	for i, w := range watches {
		if now[i].Version != w.Version || now[i].Exists != w.Exists || now[i].HadValue != w.HadValue {
			return false, nil
		}
	}
	return true, nil
}
