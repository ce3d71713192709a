package flags

import (
	"os"
	"testing"

	"hotswap/translate"
)

func TestStageRange(t *testing.T) {
	doc := func(targeting string) []byte {
		return []byte(`{"flags":{"f":{"state":"ENABLED","variants":{"off":"off","dw":"dualwrite","shadow":"shadow","live":"live","bad":"nope"},
"defaultVariant":"dw"` + targeting + `}}}`)
	}
	cases := []struct {
		name   string
		data   []byte
		lo, hi translate.Stage
		ok     bool
	}{
		{"default only", doc(""), translate.StageDualWrite, translate.StageDualWrite, true},
		{"fractional", doc(`,"targeting":{"fractional":[{"var":"targetingKey"},["dw",50],["live",50]]}`), translate.StageDualWrite, translate.StageLive, true},
		{"weight 0 ignored, default unreachable", doc(`,"targeting":{"fractional":[["off",0],["shadow",100]]}`), translate.StageShadow, translate.StageShadow, true},
		{"if rule", doc(`,"targeting":{"if":[{"in":["@x",{"var":"targetingKey"}]},"off",null]}`), translate.StageOff, translate.StageDualWrite, true},
		{"invalid value ignored", doc(`,"targeting":{"if":[true,"bad","dw"]}`), translate.StageDualWrite, translate.StageDualWrite, true},
		{"missing flag", []byte(`{"flags":{}}`), 0, 0, false},
		{"disabled", []byte(`{"flags":{"f":{"state":"DISABLED","variants":{"a":"live"},"defaultVariant":"a"}}}`), 0, 0, false},
	}
	for _, c := range cases {
		lo, hi, ok, err := StageRange(c.data, "f")
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if ok != c.ok || (ok && (lo != c.lo || hi != c.hi)) {
			t.Errorf("%s: got %v..%v ok=%v, want %v..%v ok=%v", c.name, lo, hi, ok, c.lo, c.hi, c.ok)
		}
	}
	ex, err := os.ReadFile("../deploy/examples/flags.json")
	if err != nil {
		t.Fatal(err)
	}
	if lo, hi, ok, _ := StageRange(ex, "hotswap.user.stage"); !ok || lo != translate.StageDualWrite || hi != translate.StageShadow {
		t.Errorf("example: %v..%v %v", lo, hi, ok)
	}
}
