package translate_test

import (
	"testing"

	"hotswap/translate"
)

func TestFamilyScanGlobAndPKPrefix(t *testing.T) {
	m, err := translate.ParseMapping([]byte(`
table: tbl
families:
  - name: user
    match: "user:{id}"
    type: hash
    pk: "user#{id}"
    sk: "profile"
  - name: odd
    match: "a*b?[c]\\d:{x}:{y}"
    type: set
    pk: "{x}"
    sk: "odd#{y}"
  - name: rest
    match: "doc:{path...}"
    type: string
    pk: "doc#{path}"
    sk: "v"
  - name: all
    match: "{key...}"
    pk: "k#{key}"
    sk: "v"
`), "m.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ family, glob, prefix string }{
		{"user", "user:*", "user#"},
		{"odd", `a\*b\?\[c\]\\d:*:*`, ""},
		{"rest", "doc:*", "doc#"},
		{"all", "*", "k#"},
	} {
		f := m.Family(tc.family)
		if got := f.ScanGlob(); got != tc.glob {
			t.Errorf("%s: ScanGlob = %q, want %q", tc.family, got, tc.glob)
		}
		if got := f.PKPrefix(); got != tc.prefix {
			t.Errorf("%s: PKPrefix = %q, want %q", tc.family, got, tc.prefix)
		}
	}
}
