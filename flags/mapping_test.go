package flags

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"

	"hotswap/translate"
)

const testMapping = `
table: registry
families:
  - name: user
    match: "user:{id}"
    type: hash
    pk: "user#{id}"
    sk: "profile"
  - name: user-teams
    match: "user:{id}:teams"
    type: set
    pk: "user#{id}"
    sk: "teams"
    flag: hotswap.user.stage
  - name: user-email
    match: "email:{email}"
    type: string
    pk: "email#{email}"
    sk: "id"
  - name: session
    match: "session:{id}"
    type: string
    pk: "session#{id}"
    sk: "s"
    floor: dualwrite
`

// TestOpenFile_Mapping stages the families of a mapping file with
// testdata/ramp.json: the loader's default flag names, a shared flag, and a
// family whose flag the file does not define.
func TestOpenFile_Mapping(t *testing.T) {
	m, err := translate.ParseMapping([]byte(testMapping), "mapping.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := MustOpenFile(t, filepath.Join("testdata", "ramp.json"))
	ctx := context.Background()
	route := func(key string) translate.Route {
		r, ok, err := m.Route([]byte(key))
		if !ok || err != nil {
			t.Fatalf("route %q: %v %v", key, ok, err)
		}
		return r
	}
	const n = 10_000
	users := map[translate.Stage]int{}
	emails := map[translate.Stage]int{}
	for i := range n {
		id := strconv.Itoa(i)
		u, ut := route("user:"+id), route("user:"+id+":teams")
		su, st := s.Stage(ctx, u.Family, u.Entity), s.Stage(ctx, ut.Family, ut.Entity)
		if su != st {
			t.Fatalf("user %s: profile %s, teams %s: families on one flag disagree", id, su, st)
		}
		users[su]++
		e := route("email:" + id + "@example.com")
		emails[s.Stage(ctx, e.Family, e.Entity)]++
		if got := s.Stage(ctx, route("session:"+id).Family, []byte(id)); got != translate.StageDualWrite {
			t.Fatalf("session without a flag: %s, want its floor", got)
		}
	}
	within := func(name string, got, wantPct int) {
		if got < n*(wantPct-2)/100 || got > n*(wantPct+2)/100 {
			t.Errorf("%s: %d of %d, want %d%% ± 2%%", name, got, n, wantPct)
		}
	}
	within("user off", users[translate.StageOff], 50)
	within("user dualwrite", users[translate.StageDualWrite], 25)
	within("user shadow", users[translate.StageShadow], 25)
	within("email dualwrite", emails[translate.StageDualWrite], 10)
	t.Logf("users %v, emails %v", users, emails)
	if got := s.Stats().Fallbacks.MissingFlag; got != n {
		t.Fatalf("%d missing-flag fallbacks, want one per session entity (%d)", got, n)
	}
}
