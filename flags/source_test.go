package flags

import (
	"context"
	"path/filepath"
	"testing"

	"hotswap/translate"
)

func TestStatic_Stage(t *testing.T) {
	ctx := context.Background()
	floored := &translate.Family{Name: "team", Flag: teamFamily.Flag, Floor: translate.StageShadow}

	var zero Static
	if st := zero.Stage(ctx, userFamily, nil); st != translate.StageOff {
		t.Fatalf("zero Static: %s, want off", st)
	}
	if st := zero.Stage(ctx, floored, nil); st != translate.StageShadow {
		t.Fatalf("zero Static: %s, want the floor", st)
	}
	if zero.Ready() != nil || zero.Revision() == "" || zero.Close() != nil {
		t.Fatal("a Static is always ready, with a revision")
	}

	m := map[string]translate.Stage{"user": translate.StageLive, "team": translate.StageDualWrite}
	s := NewStatic(m)
	m["user"] = translate.StageOff // copied
	if st := s.Stage(ctx, userFamily, nil); st != translate.StageLive {
		t.Fatalf("%s, want live", st)
	}
	if st := s.Stage(ctx, floored, nil); st != translate.StageShadow {
		t.Fatalf("floor above the stage: %s, want shadow", st)
	}
	s.Set("user", translate.StageComplete)
	if st := s.Stage(ctx, userFamily, nil); st != translate.StageComplete {
		t.Fatalf("after Set: %s", st)
	}
	zero.Set("user", translate.StageRampDown)
	if st := zero.Stage(ctx, userFamily, nil); st != translate.StageRampDown {
		t.Fatalf("Set on the zero Static: %s", st)
	}

	fn := StaticFunc(func(f *translate.Family, e []byte) translate.Stage {
		if string(e) == "a" {
			return translate.StageLive
		}
		return translate.StageOff
	})
	if fn.Stage(ctx, userFamily, []byte("a")) != translate.StageLive || fn.Stage(ctx, floored, []byte("b")) != translate.StageShadow {
		t.Fatal("StaticFunc")
	}
}

func TestCache_Bounded(t *testing.T) {
	const size = 4 * cacheShards
	c := newCache(size)
	fs := c.newFlag("f")
	for i := range 100 * size {
		e := entity(i)
		h := c.hash(fs, e)
		c.put(c.shard(h), h, entry{flag: fs, entity: string(e), stage: translate.StageLive})
	}
	if _, n := c.stats(); n > size {
		t.Fatalf("%d entries, bound %d", n, size)
	}
	// The most recent entries are still there.
	e := entity(100*size - 1)
	h := c.hash(fs, e)
	if _, ok := c.get(c.shard(h), h, fs, e); !ok {
		t.Fatal("the newest entry was evicted")
	}
}

func TestCache_Collision(t *testing.T) {
	c := newCache(0)
	a, b := c.newFlag("a"), c.newFlag("b")
	const h = 42 // pretend every pair hashes alike
	sh := c.shard(h)
	c.put(sh, h, entry{flag: a, entity: "x", stage: translate.StageLive, gen: 1})
	if _, ok := c.get(sh, h, b, []byte("x")); ok {
		t.Fatal("another flag's entry was returned")
	}
	if _, ok := c.get(sh, h, a, []byte("y")); ok {
		t.Fatal("another entity's entry was returned")
	}
	if e, ok := c.get(sh, h, a, []byte("x")); !ok || e.stage != translate.StageLive {
		t.Fatal("entry lost")
	}
	// An older decision does not replace a newer one.
	c.put(sh, h, entry{flag: a, entity: "x", stage: translate.StageOff, gen: 0})
	if e, _ := c.get(sh, h, a, []byte("x")); e.stage != translate.StageLive {
		t.Fatal("an older decision replaced a newer one")
	}
}

func TestOpenFeature_CacheSize(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flags.json")
	MustWriteAtomic(t, path, ramp25(t))
	s := MustOpenFile(t, path, WithCacheSize(2*cacheShards))
	stages(s, userFamily, 5_000)
	if n := s.Stats().CacheEntries; n > 2*cacheShards {
		t.Fatalf("%d entries, bound %d", n, 2*cacheShards)
	}
}
