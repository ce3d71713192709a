package translate

import "testing"

func TestStage_ParseAndString(t *testing.T) {
	names := []string{"off", "dualwrite", "shadow", "live", "rampdown", "complete"}
	for i, name := range names {
		st, err := ParseStage(name)
		if err != nil {
			t.Fatalf("ParseStage(%q): %v", name, err)
		}
		if st != Stage(i) || st.String() != name {
			t.Errorf("ParseStage(%q) = %d (%s), want %d", name, st, st, i)
		}
	}
	if got := Stage(6).String(); got != "Stage(6)" {
		t.Errorf("Stage(6).String() = %q", got)
	}
}

func TestStage_ParseErrors(t *testing.T) {
	for _, s := range []string{"", "Live", "LIVE", "on", " live", "dual-write", "Stage(3)", "3"} {
		if st, err := ParseStage(s); err == nil {
			t.Errorf("ParseStage(%q) = %v, want an error", s, st)
		} else if want := `unknown stage "` + s + `" (want off, dualwrite, shadow, live, rampdown or complete)`; err.Error() != want {
			t.Errorf("ParseStage(%q): %v, want %s", s, err, want)
		}
	}
}

// TestStage_Order pins the order floors rely on, and the authority of each stage
// (DESIGN.md §3).
func TestStage_Order(t *testing.T) {
	order := []Stage{StageOff, StageDualWrite, StageShadow, StageLive, StageRampDown, StageComplete}
	for i := 1; i < len(order); i++ {
		if !(order[i-1] < order[i]) {
			t.Errorf("%s is not before %s", order[i-1], order[i])
		}
	}
	for _, st := range order {
		want := st == StageLive || st == StageRampDown || st == StageComplete
		if st.DynamoAuthoritative() != want {
			t.Errorf("%s.DynamoAuthoritative() = %v", st, !want)
		}
	}
}
