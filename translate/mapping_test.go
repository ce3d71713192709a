package translate

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// yamlLines joins lines into a file, so a test reads its line numbers off the list.
func yamlLines(lines ...string) string { return strings.Join(lines, "\n") + "\n" }

// MustParseMapping parses src or fails the test.
func MustParseMapping(tb testing.TB, src string) *Mapping {
	tb.Helper()
	m, err := ParseMapping([]byte(src), "m.yaml")
	if err != nil {
		tb.Fatalf("parse mapping: %v", err)
	}
	return m
}

// userFamily is a valid family: lines 3 to 7 after the two header lines.
func userFamily() []string {
	return []string{
		`  - name: user`,
		`    match: "user:{id}"`,
		`    type: hash`,
		`    pk: "user#{id}"`,
		`    sk: profile`,
	}
}

// withHeader puts "table: t12" and "families:" (lines 1 and 2) before lines.
func withHeader(lines ...string) string {
	return yamlLines(append([]string{"table: t12", "families:"}, lines...)...)
}

func family(name, match, typ, pk, sk string, extra ...string) []string {
	lines := []string{"  - name: " + name, "    match: " + match}
	if typ != "" {
		lines = append(lines, "    type: "+typ)
	}
	lines = append(lines, "    pk: "+pk, "    sk: "+sk)
	return append(lines, extra...)
}

func concat(parts ...[]string) []string {
	var out []string
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func TestMapping_LoadRegistry(t *testing.T) {
	m, err := LoadMapping("testdata/mapping/registry.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if m.Table != "registry" || len(m.Families) != 3 {
		t.Fatalf("table %q, %d families", m.Table, len(m.Families))
	}
	type want struct {
		name, match, pk, sk, flag string
		kind                      Kind
		read                      Consistency
		numeric                   map[string]bool
		line                      int
	}
	wants := []want{
		{"user", "user:{id}", "user#{id}", "profile", "hotswap.user.stage", KindHash, Eventual, map[string]bool{"age": true, "logins": true}, 4},
		{"user-teams", "user:{id}:teams", "user#{id}", "teams", "hotswap.user.stage", KindSet, Strong, nil, 11},
		{"user-email", "email:{email}", "email#{email}", "id", "hotswap.user-email.stage", KindString, Strong, nil, 17},
	}
	for i, w := range wants {
		f := m.Families[i]
		got := want{f.Name, f.Match, f.PK, f.SK, f.Flag, f.Kind, f.Read, f.Numeric, f.Line}
		if fmt.Sprint(got) != fmt.Sprint(w) {
			t.Errorf("family %d:\n got %v\nwant %v", i, got, w)
		}
		if f.CatchAll || f.Floor != StageOff {
			t.Errorf("family %s: catch-all %v, floor %v", f.Name, f.CatchAll, f.Floor)
		}
		if m.Family(w.name) != f {
			t.Errorf("Family(%q) is not the family in the list", w.name)
		}
	}
	if m.Family("nope") != nil {
		t.Error("Family(nope) found something")
	}
}

func TestMapping_LoadMissingFile(t *testing.T) {
	_, err := LoadMapping("testdata/mapping/does-not-exist.yaml")
	if !errors.Is(err, os.ErrNotExist) || !strings.HasPrefix(err.Error(), "load mapping: ") {
		t.Fatalf("got %v", err)
	}
}

// TestMapping_DocExample keeps the example of docs/MAPPING.md loadable.
func TestMapping_DocExample(t *testing.T) {
	doc, err := os.ReadFile("../docs/MAPPING.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := bytes.Cut(doc, []byte("```yaml\n"))
	block, _, ok2 := bytes.Cut(rest, []byte("```"))
	if !ok || !ok2 {
		t.Fatal("docs/MAPPING.md has no ```yaml block")
	}
	m := MustParseMapping(t, string(block))
	if len(m.Families) != 3 || m.Family("user-teams").Flag != m.Family("user").Flag {
		t.Fatalf("doc example: %d families, flags %q %q", len(m.Families), m.Family("user-teams").Flag, m.Family("user").Flag)
	}
}

func TestMapping_ParseFields(t *testing.T) {
	tests := []struct {
		name  string
		lines []string
		check func(t *testing.T, f *Family)
	}{
		{"defaults", userFamily(), func(t *testing.T, f *Family) {
			if f.Flag != "hotswap.user.stage" || f.Floor != StageOff || f.Read != Strong || f.Numeric != nil || f.CatchAll || f.Line != 3 {
				t.Errorf("got %+v", f)
			}
		}},
		{"catch-all without type", family("all", `"{key...}"`, "", `"{key}"`, "v"), func(t *testing.T, f *Family) {
			if !f.CatchAll || f.Kind != KindNone {
				t.Errorf("catch-all %v kind %v", f.CatchAll, f.Kind)
			}
		}},
		{"catch-all type any", family("all", `"{key...}"`, "any", `"{key}"`, "v"), func(t *testing.T, f *Family) {
			if !f.CatchAll || f.Kind != KindNone {
				t.Errorf("catch-all %v kind %v", f.CatchAll, f.Kind)
			}
		}},
		{"catch-all with a type", family("all", `"{key...}"`, "string", `"{key}"`, "v"), func(t *testing.T, f *Family) {
			if !f.CatchAll || f.Kind != KindString {
				t.Errorf("catch-all %v kind %v", f.CatchAll, f.Kind)
			}
		}},
		{"rest capture is not a catch-all", family("doc", `"doc:{p...}"`, "string", `"{p}"`, "v"), func(t *testing.T, f *Family) {
			if f.CatchAll {
				t.Error("doc:{p...} taken for a catch-all")
			}
		}},
		{"every option", family("u", `"u:{id}"`, "hash", `"u#{id}"`, "p", "    flag: team.stage", "    floor: shadow", "    read: eventual", "    numeric: [a, b]"), func(t *testing.T, f *Family) {
			if f.Flag != "team.stage" || f.Floor != StageShadow || f.Read != Eventual || len(f.Numeric) != 2 || !f.Numeric["a"] || !f.Numeric["b"] {
				t.Errorf("got %+v", f)
			}
		}},
		{"numeric string", family("s", `"s:{id}"`, "string", `"s#{id}"`, "v", "    numeric: true"), func(t *testing.T, f *Family) {
			if len(f.Numeric) != 1 || !f.Numeric[""] {
				t.Errorf("numeric %v", f.Numeric)
			}
		}},
		{"numeric false", family("s", `"s:{id}"`, "string", `"s#{id}"`, "v", "    numeric: false"), func(t *testing.T, f *Family) {
			if f.Numeric != nil {
				t.Errorf("numeric %v", f.Numeric)
			}
		}},
		{"empty optional fields", family("s", `"s:{id}"`, "string", `"s#{id}"`, "v", "    flag:", "    floor: ~", "    read: ''", "    numeric:"), func(t *testing.T, f *Family) {
			if f.Flag != "hotswap.s.stage" || f.Floor != StageOff || f.Read != Strong || f.Numeric != nil {
				t.Errorf("got %+v", f)
			}
		}},
		{"literal braces", family("tag", `"{{tenant}}:{id}"`, "hash", `"t#{{x}}{id}"`, "v"), func(t *testing.T, f *Family) {
			m := &Mapping{byName: map[string]*Family{}}
			if err := (&mappingParser{file: "t"}).addFamily(m, f); err != nil {
				t.Fatal(err)
			}
			r, ok, err := m.Route([]byte("{tenant}:42"))
			if !ok || err != nil || r.PK != "t#{x}42" || string(r.Entity) != "42" {
				t.Errorf("route: %v %v %+v", ok, err, r)
			}
		}},
		{"rest before a one-segment placeholder", family("d", `"d:{a}:{r...}"`, "string", `"{r}:{a}"`, "v"), func(t *testing.T, f *Family) {
			// {a} holds no ':', so the text after the last ':' is {a}: one reading.
			if f.PK != "{r}:{a}" {
				t.Errorf("pk %q", f.PK)
			}
		}},
		{"placeholder followed by text with ':'", family("d", `"d:{a}:{b}"`, "string", `"{a}#:{b}"`, "v"), func(t *testing.T, f *Family) {
			if f.PK != "{a}#:{b}" {
				t.Errorf("pk %q", f.PK)
			}
		}},
		{"no placeholder", family("cfg", "config", "string", "config", "v"), func(t *testing.T, f *Family) {
			if f.match.nvars != 0 || f.match.prefix != "config" {
				t.Errorf("matcher %+v", f.match)
			}
		}},
		{"scalars of other YAML types are text", family("n1", "1234", "string", "0x10", "1.50"), func(t *testing.T, f *Family) {
			if f.Match != "1234" || f.PK != "0x10" || f.SK != "1.50" {
				t.Errorf("got %q %q %q", f.Match, f.PK, f.SK)
			}
		}},
		{"alias", []string{"  - name: a", `    match: &m "a:{id}"`, "    type: hash", `    pk: *m`, "    sk: x"}, func(t *testing.T, f *Family) {
			if f.PK != "a:{id}" {
				t.Errorf("pk %q", f.PK)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := MustParseMapping(t, withHeader(tt.lines...))
			tt.check(t, m.Families[0])
		})
	}
	t.Run("floors", func(t *testing.T) {
		for st := StageOff; st <= StageComplete; st++ {
			m := MustParseMapping(t, withHeader(family("u", `"u:{id}"`, "hash", `"u#{id}"`, "p", "    floor: "+st.String())...))
			if m.Families[0].Floor != st {
				t.Errorf("floor %v parsed as %v", st, m.Families[0].Floor)
			}
		}
	})
	t.Run("no families", func(t *testing.T) {
		for _, src := range []string{"table: t12\n", "table: t12\nfamilies:\n", "table: t12\nfamilies: []\n"} {
			m := MustParseMapping(t, src)
			if len(m.Families) != 0 {
				t.Errorf("%q: %d families", src, len(m.Families))
			}
			if _, ok, _ := m.Route([]byte("user:1")); ok {
				t.Errorf("%q: a key routed without families", src)
			}
		}
	})
}

func TestMapping_ParseErrors(t *testing.T) {
	long := func(n int) string { return strings.Repeat("p", n) }
	tests := []struct {
		name, src, want string
	}{
		{"empty", "", `m.yaml: the file is empty: it needs a table and its families`},
		{"only a comment", "# nothing\n", `m.yaml: the file is empty: it needs a table and its families`},
		{"yaml syntax", "table: [\n", `m.yaml: yaml: line 1: did not find expected node content`},
		{"two documents", "table: t12\n---\ntable: t13\n", `m.yaml:2: a mapping file holds one YAML document; this is a second`},
		{"not a mapping", "- a\n", `m.yaml:1: want a YAML mapping with table and families`},
		{"unknown top field", "table: t12\ntabel: x\n", `m.yaml:2: unknown field "tabel" (want table, families)`},
		{"top field twice", "table: t12\ntable: t13\n", `m.yaml:2: table is given twice (first at line 1)`},
		{"table missing", "families: []\n", `m.yaml:1: table is required: the DynamoDB table (pk S, sk S) that holds the families`},
		{"table empty", "families: []\ntable: ''\n", `m.yaml:2: table is required: the DynamoDB table (pk S, sk S) that holds the families`},
		{"table too short", "table: ab\n", `m.yaml:1: table "ab": a DynamoDB table name is 3 to 255 letters, digits, '_', '-' or '.'`},
		{"table bad byte", "table: my/table\n", `m.yaml:1: table "my/table": a DynamoDB table name is 3 to 255 letters, digits, '_', '-' or '.'`},
		{"table too long", "table: " + strings.Repeat("t", 256) + "\n", `m.yaml:1: table "` + strings.Repeat("t", 256) + `": a DynamoDB table name is 3 to 255 letters, digits, '_', '-' or '.'`},
		{"table not a string", "table: [a]\n", `m.yaml:1: table: want a string`},
		{"families not a list", "table: t12\nfamilies: x\n", `m.yaml:2: families: want a list of families`},
		{"family not a mapping", withHeader("  - user"), `m.yaml:3: family 1: want a mapping of name, match, type, pk, sk, flag, floor, read, numeric`},
		{"unknown family field", withHeader(append(userFamily(), "    tpye: hash")...),
			`m.yaml:8: family "user": unknown field "tpye" (want name, match, type, pk, sk, flag, floor, read, numeric)`},
		{"family field twice", withHeader(append(userFamily(), "    sk: again")...), `m.yaml:8: family "user": sk is given twice (first at line 7)`},
		{"name missing", withHeader(`  - match: "user:{id}"`, "    type: hash", `    pk: "user#{id}"`, "    sk: p"), `m.yaml:3: family 1: name is required`},
		{"name missing in second", withHeader(concat(userFamily(), []string{`  - match: "x:{id}"`, "    type: hash", `    pk: "x#{id}"`, "    sk: s"})...), `m.yaml:8: family 2: name is required`},
		{"name upper case", withHeader(family("User", `"u:{id}"`, "hash", `"u#{id}"`, "p")...), `m.yaml:3: family "User": name: use lower-case letters, digits, '_' and '-'`},
		{"name with dot", withHeader(family("a.b", `"u:{id}"`, "hash", `"u#{id}"`, "p")...), `m.yaml:3: family "a.b": name: use lower-case letters, digits, '_' and '-'`},
		{"name twice", withHeader(concat(userFamily(), family("user", `"x:{id}"`, "hash", `"x#{id}"`, "p"))...), `m.yaml:8: family "user" is declared twice (first at line 3)`},
		{"match missing", withHeader("  - name: user", "    type: hash", `    pk: "u"`, "    sk: p"), `m.yaml:3: family "user": match is required: the key pattern, e.g. "user:{id}"`},
		{"match unquoted", withHeader(family("all", "{key...}", "", `"{key}"`, "v")...), `m.yaml:4: family "all": match: want a string (quote it: a YAML value that starts with "{" is a mapping)`},
		{"match list", withHeader(family("all", "[a]", "", `"{key}"`, "v")...), `m.yaml:4: family "all": match: want a string`},
		{"empty placeholder", withHeader(family("u", `"user:{}"`, "hash", `"u"`, "p")...), `m.yaml:4: family "u": match "user:{}": empty placeholder {}`},
		{"unclosed", withHeader(family("u", `"user:{id"`, "hash", `"u"`, "p")...), `m.yaml:4: family "u": match "user:{id": unclosed { (write {{ for a literal {)`},
		{"nested", withHeader(family("u", `"user:{a{b}}"`, "hash", `"u"`, "p")...), `m.yaml:4: family "u": match "user:{a{b}}": nested placeholder in "{a{b}" (write {{ for a literal {)`},
		{"unmatched }", withHeader(family("u", `"user:id}"`, "hash", `"u"`, "p")...), `m.yaml:4: family "u": match "user:id}": unmatched } (write }} for a literal })`},
		{"adjacent placeholders", withHeader(family("u", `"user:{a}{b}"`, "hash", `"u#{a}:{b}"`, "p")...), `m.yaml:4: family "u": match "user:{a}{b}": placeholders {a} and {b} need literal text between them`},
		{"adjacent rest", withHeader(family("u", `"user:{a}{b...}"`, "hash", `"u#{a}:{b}"`, "p")...), `m.yaml:4: family "u": match "user:{a}{b...}": placeholders {a} and {b...} need literal text between them`},
		{"rest not at end", withHeader(family("u", `"user:{a...}:x"`, "hash", `"u#{a}"`, "p")...), `m.yaml:4: family "u": match "user:{a...}:x": {a...} must end the match`},
		{"placeholder twice", withHeader(family("u", `"user:{a}:{a}"`, "hash", `"u#{a}"`, "p")...), `m.yaml:4: family "u": match "user:{a}:{a}": placeholder {a} is used twice`},
		{"bad placeholder name", withHeader(family("u", `"user:{a-b}"`, "hash", `"u"`, "p")...), `m.yaml:4: family "u": match "user:{a-b}": placeholder name "a-b": use letters, digits and _`},
		{"nameless rest", withHeader(family("u", `"user:{...}"`, "hash", `"u"`, "p")...), `m.yaml:4: family "u": match "user:{...}": placeholder name "": use letters, digits and _`},
		{"type missing", withHeader(family("u", `"u:{id}"`, "", `"u#{id}"`, "p")...), `m.yaml:3: family "u": type is required (string, hash or set): only a catch-all family (match "{key...}") takes its type from each key's first write`},
		{"type any", withHeader(family("u", `"u:{id}"`, "any", `"u#{id}"`, "p")...), `m.yaml:5: family "u": type is required (string, hash or set): only a catch-all family (match "{key...}") takes its type from each key's first write`},
		{"type unknown", withHeader(family("u", `"u:{id}"`, "list", `"u#{id}"`, "p")...), `m.yaml:5: family "u": type "list": want string, hash or set`},
		{"pk missing", withHeader(slices.Delete(userFamily(), 3, 4)...), `m.yaml:3: family "user": pk is required (DynamoDB keys cannot be empty)`},
		{"sk missing", withHeader(userFamily()[:4]...), `m.yaml:3: family "user": sk is required (DynamoDB keys cannot be empty)`},
		{"sk empty", withHeader(append(userFamily()[:4], `    sk: ""`)...), `m.yaml:7: family "user": sk is required (DynamoDB keys cannot be empty)`},
		// The message of the brief, at its line 12.
		{"pk uses an uncaptured placeholder", yamlLines("table: registry", "families:", "  - name: other", `    match: "other:{id}"`, "    type: set",
			`    pk: "other#{id}"`, "    sk: members", "", "  - name: user", `    match: "user:{id}"`, "    type: hash", `    pk: "user#{uid}"`, "    sk: profile"),
			`m.yaml:12: family "user": pk uses {uid}, which match "user:{id}" does not capture`},
		{"sk uses an uncaptured placeholder", withHeader(family("u", `"u:{id}"`, "hash", `"u#{id}"`, `"{x}"`)...), `m.yaml:7: family "u": sk uses {x}, which match "u:{id}" does not capture`},
		{"template rest syntax", withHeader(family("d", `"d:{p...}"`, "string", `"d#{p...}"`, "v")...), `m.yaml:6: family "d": pk "d#{p...}": write {p}: the "..." form belongs in the match only`},
		{"template bad placeholder", withHeader(family("d", `"d:{p}"`, "string", `"d#{p"`, "v")...), `m.yaml:6: family "d": pk "d#{p": unclosed { (write {{ for a literal {)`},
		{"template adjacent placeholders", withHeader(family("d", `"d:{a}:{b}"`, "string", `"{a}{b}"`, "v")...), `m.yaml:6: family "d": pk "{a}{b}": placeholders {a} and {b} need literal text between them`},
		{"placeholder in neither", withHeader(family("d", `"d:{a}:{b}"`, "string", `"d#{a}"`, "v")...), `m.yaml:3: family "d": placeholder {b} of match "d:{a}:{b}" is in neither pk nor sk, so different keys would share one item`},
		{"NUL in template", withHeader(family("d", `"d:{a}"`, "string", `"d\0{a}"`, "v")...), `m.yaml:6: family "d": pk "d\x00{a}": the text must be UTF-8 without NUL (NUL marks escaped bytes of a capture)`},
		{"pk text too long", withHeader(family("d", `"d:{a}"`, "string", long(MaxPKLen+1), `"{a}"`)...), `m.yaml:6: family "d": pk is at least 2049 bytes for every key, DynamoDB allows 2048`},
		{"sk text too long", withHeader(family("d", `"d:{a}"`, "string", `"{a}"`, long(MaxSKLen+1))...), `m.yaml:7: family "d": sk is at least 1025 bytes for every key, DynamoDB allows 1024`},
		{"pk text leaves no room", withHeader(family("d", `"d:{a}"`, "string", `"`+long(MaxPKLen)+`{a}"`, "v")...), `m.yaml:6: family "d": pk is at least 2049 bytes for every key, DynamoDB allows 2048`},
		{"ambiguous pk", withHeader(family("d", `"d:{a}:{b}"`, "string", `"{a}#{b}"`, "v")...),
			`m.yaml:6: family "d": pk "{a}#{b}" can be read two ways, so two keys would share one item: pk "x##x" is {a}="x#" {b}="x" or {a}="x" {b}="#x"; end the template with a placeholder, or follow a one-segment placeholder with text containing ':', which its capture never holds`},
		{"ambiguous sk", withHeader(family("d", `"d:{a}:{b}:{c}"`, "string", `"d#{a}"`, `"{b}-{c}"`)...),
			`m.yaml:7: family "d": sk "{b}-{c}" can be read two ways, so two keys would share one item: sk "x--x" is {b}="x-" {c}="x" or {b}="x" {c}="-x"; end the template with a placeholder, or follow a one-segment placeholder with text containing ':', which its capture never holds`},
		{"ambiguous rest", withHeader(family("d", `"d:{a}:{r...}"`, "string", `"{r}#{a}"`, "v")...),
			`m.yaml:6: family "d": pk "{r}#{a}" can be read two ways, so two keys would share one item: pk "x##x" is {r}="x#" {a}="x" or {r}="x" {a}="#x"; end the template with a placeholder, or follow a one-segment placeholder with text containing ':', which its capture never holds`},
		{"flag with space", withHeader(append(userFamily(), "    flag: a b")...), `m.yaml:8: family "user": flag "a b": a flag key has no spaces or control characters`},
		{"floor unknown", withHeader(append(userFamily(), "    floor: on")...), `m.yaml:8: family "user": floor: unknown stage "on" (want off, dualwrite, shadow, live, rampdown or complete)`},
		{"floor upper case", withHeader(append(userFamily(), "    floor: Live")...), `m.yaml:8: family "user": floor: unknown stage "Live" (want off, dualwrite, shadow, live, rampdown or complete)`},
		{"read unknown", withHeader(append(userFamily(), "    read: weak")...), `m.yaml:8: family "user": read "weak": want strong or eventual`},
		{"numeric on a set", withHeader(family("s", `"s:{id}"`, "set", `"s#{id}"`, "m", "    numeric: [a]")...), `m.yaml:8: family "s": numeric applies to hash and string families`},
		{"numeric on a typeless catch-all", withHeader(family("all", `"{k...}"`, "", `"{k}"`, "v", "    numeric: true")...), `m.yaml:7: family "all": numeric applies to hash and string families`},
		{"numeric hash bool", withHeader(append(userFamily(), "    numeric: true")...), `m.yaml:8: family "user": numeric: a hash family lists its numeric fields, e.g. numeric: [age, logins]`},
		{"numeric hash string", withHeader(append(userFamily(), "    numeric: age")...), `m.yaml:8: family "user": numeric: a hash family lists its numeric fields, e.g. numeric: [age, logins]`},
		{"numeric string list", withHeader(family("s", `"s:{id}"`, "string", `"s#{id}"`, "v", "    numeric: [v]")...), `m.yaml:8: family "s": numeric: a string family writes numeric: true (its value is the one number)`},
		{"numeric string word", withHeader(family("s", `"s:{id}"`, "string", `"s#{id}"`, "v", "    numeric: yes")...), `m.yaml:8: family "s": numeric: a string family writes numeric: true (its value is the one number)`},
		{"numeric field twice", withHeader(append(userFamily(), "    numeric:", "      - age", "      - age")...), `m.yaml:10: family "user": numeric lists field "age" twice`},
		{"numeric null field", withHeader(append(userFamily(), "    numeric: [age, ~]")...), `m.yaml:8: family "user": numeric: want field names`},
		{"second catch-all", withHeader(concat(family("a", `"{k...}"`, "", `"a#{k}"`, "v"), family("b", `"{key...}"`, "", `"b#{key}"`, "v"))...),
			`m.yaml:7: family "b": a second catch-all; family "a" (line 3) already takes every key no other family matches`},
		// DESIGN.md §2's example: "user:email:teams" is user "email"'s teams and the
		// string of email "teams".
		{"overlap", withHeader(concat(
			family("user-teams", `"user:{id}:teams"`, "set", `"user#{id}"`, "teams"),
			family("user-email", `"user:email:{email}"`, "string", `"email#{email}"`, "id"))...),
			`m.yaml:8: families "user-teams" (line 3) and "user-email" can match the same key, e.g. "user:email:teams": patterns must not overlap (only a catch-all "{key...}" may)`},
		{"overlap with a rest capture", withHeader(concat(userFamily(), family("u2", `"user:{x...}"`, "hash", `"u2#{x}"`, "p"))...),
			`m.yaml:8: families "user" (line 3) and "u2" can match the same key, e.g. "user:x": patterns must not overlap (only a catch-all "{key...}" may)`},
		{"same item", withHeader(concat(userFamily(), family("u2", `"u2:{id}"`, "hash", `"user#{id}"`, "profile"))...),
			`m.yaml:8: families "user" (line 3) and "u2" can put different keys in one item, e.g. pk "user#x", sk "profile"`},
		{"same item with the catch-all", withHeader(concat(userFamily(), family("all", `"{k...}"`, "", `"{k}"`, "profile"))...),
			`m.yaml:8: families "user" (line 3) and "all" can put different keys in one item, e.g. pk "user#x", sk "profile"`},
		{"shared flag, different floors", withHeader(concat(userFamily(), family("teams", `"user:{id}:teams"`, "set", `"user#{id}"`, "teams", "    flag: hotswap.user.stage", "    floor: live"))...),
			`m.yaml:8: family "teams": floor live differs from floor off of family "user" (line 3), which shares flag "hotswap.user.stage": families on one flag move together`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := ParseMapping([]byte(tt.src), "m.yaml")
			if err == nil {
				t.Fatalf("parsed: %+v", m)
			}
			if err.Error() != tt.want {
				t.Fatalf("error\n got %s\nwant %s", err, tt.want)
			}
			var me *MappingError
			if !errors.As(err, &me) || !errors.Is(err, ErrInvalidMapping) || me.File != "m.yaml" {
				t.Fatalf("error %T does not wrap ErrInvalidMapping as a *MappingError", err)
			}
		})
	}
}

// TestMapping_Overlap checks the overlap decision on pairs of patterns, and that
// each example key really matches both.
func TestMapping_Overlap(t *testing.T) {
	tests := []struct {
		a, b    string
		overlap bool
	}{
		{"user:{id}", "user:{id}:teams", false},
		{"user:{id}:teams", "user:email:{e}", true},
		{"user:{id}", "user:{x...}", true},
		{"user:{id}", "{t}:{id}", true},
		{"user:{id}", "{t}", false},
		{"a{x}", "{y}b", true},
		{"a-{x}", "b-{x}", false},
		{"{x}.json", "{x}.xml", false},
		{"{x}:1", "{x}:2", false},
		{"cache:{k...}", "cache:{a}:{b}", true},
		{"cache:{k...}", "cache", false},
		{"x{a}y", "x{b}z", false},
		{"k:{a}", "k:{a}-{b}", true},
		{"k:{a}", "k:", false},
		{"{a}", "{b}", true},
		{"{a}", "x:{b...}", false},
		{"config", "config", true},
		{"config", "configs", false},
		{"a:{x}:c", "{y}:b:{z}", true},
		{"a:{x}:c", "{y}:b:d", false},
		{"{a}-{b}-{c}", "{d}--{e}", true}, // "x---x": {b} is "-"
		{"{a}-{b}", "{c}", true},
		{"a{x}", "a", false}, // a placeholder never is empty
		{"{x}a", "a", false},
		{"p{a...}", "pq{b}", true},
		{"p{a...}", "q{b...}", false},
		{"{{x}}:{a}", "{b}:y", true},
	}
	for _, tt := range tests {
		t.Run(tt.a+" vs "+tt.b, func(t *testing.T) {
			src := withHeader(concat(
				family("a", fmt.Sprintf("%q", tt.a), "hash", `"a#`+templateOf(tt.a)+`"`, "v"),
				family("b", fmt.Sprintf("%q", tt.b), "hash", `"b#`+templateOf(tt.b)+`"`, "v"))...)
			_, err := ParseMapping([]byte(src), "m.yaml")
			if !tt.overlap {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("overlap not found")
			}
			_, after, ok := strings.Cut(err.Error(), "e.g. ")
			key, _, ok2 := strings.Cut(after, ": patterns")
			if !ok || !ok2 {
				t.Fatalf("unexpected error: %v", err)
			}
			var k string
			if _, err := fmt.Sscanf(key, "%q", &k); err != nil {
				t.Fatal(err)
			}
			for _, p := range []string{tt.a, tt.b} {
				m := MustParseMapping(t, withHeader(family("a", fmt.Sprintf("%q", p), "hash", `"a#`+templateOf(p)+`"`, "v")...))
				if _, ok, _ := m.Route([]byte(k)); !ok {
					t.Errorf("example %q does not match %q", k, p)
				}
			}
		})
	}
}

// TestMapping_OverlapIsExact compares the overlap decision on random patterns with
// every key of up to six bytes over the patterns' alphabet.
func TestMapping_OverlapIsExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	lits := []string{"a", ":", "-", "a:", ":a", "-a"}
	randomMatch := func() *Family {
		var b strings.Builder
		n := 0
		for i := range 1 + rng.IntN(3) {
			if i > 0 || rng.IntN(2) == 0 {
				b.WriteString(lits[rng.IntN(len(lits))])
			}
			if rng.IntN(3) > 0 {
				fmt.Fprintf(&b, "{p%d}", n)
				n++
			}
		}
		if rng.IntN(3) == 0 {
			b.WriteString(lits[rng.IntN(len(lits))] + "{r...}")
		}
		f := &Family{Match: b.String()}
		if _, err := (&mappingParser{file: "t"}).compileMatch(f, 1, ""); err != nil {
			t.Fatalf("%q: %v", f.Match, err)
		}
		return f
	}
	var keys [][]byte
	var grow func(prefix []byte)
	grow = func(prefix []byte) {
		keys = append(keys, bytes.Clone(prefix))
		if len(prefix) < 6 {
			for _, c := range []byte("a:-x") {
				grow(append(prefix, c))
			}
		}
	}
	grow(nil)
	overlaps := 0
	for range 300 {
		f, g := randomMatch(), randomMatch()
		witness, found := intersectNFA(f.matchAtoms, g.matchAtoms)
		if found {
			overlaps++
			w := []byte(spellSymbols(witness))
			if !f.match.matches(w, bytes.Count(w, []byte(":")), nil) || !g.match.matches(w, bytes.Count(w, []byte(":")), nil) {
				t.Fatalf("%q and %q: example %q does not match both", f.Match, g.Match, w)
			}
			continue
		}
		for _, k := range keys {
			colons := bytes.Count(k, []byte(":"))
			if f.match.matches(k, colons, nil) && g.match.matches(k, colons, nil) {
				t.Fatalf("%q and %q said disjoint, but both match %q", f.Match, g.Match, k)
			}
		}
	}
	if overlaps == 0 || overlaps == 300 {
		t.Fatalf("%d of 300 pairs overlap: the random patterns test one side only", overlaps)
	}
}

// templateOf turns a match into a pk text that identifies its keys: its
// placeholders joined by ':', which a one-segment capture never holds (and only
// the last can be a rest capture).
func templateOf(match string) string {
	elems, err := parsePattern(match)
	if err != nil {
		panic(err)
	}
	var names []string
	for _, e := range elems {
		if e.name != "" {
			names = append(names, "{"+e.name+"}")
		}
	}
	return strings.Join(names, ":")
}

// routeMapping has families of every shape and a catch-all.
const routeMapping = `table: t12
families:
  - name: user
    match: "user:{id}"
    type: hash
    pk: "user#{id}"
    sk: profile
  - name: user-teams
    match: "user:{id}:teams"
    type: set
    pk: "user#{id}"
    sk: teams
    flag: hotswap.user.stage
  - name: email
    match: "email:{email}"
    type: string
    pk: "email#{email}"
    sk: id
  - name: doc
    match: "doc:{tenant}:{path...}"
    type: string
    pk: "doc#{tenant}"
    sk: "{path}"
  - name: pair
    match: "pair:{a}-{b}"
    type: hash
    pk: "pair#{a}:{b}"
    sk: v
  - name: config
    match: config
    type: string
    pk: config
    sk: v
  - name: all
    match: "{key...}"
    pk: "k#{key}"
    sk: v
`

func TestMapping_Route(t *testing.T) {
	m := MustParseMapping(t, routeMapping)
	tests := []struct {
		key                    string
		family, entity, pk, sk string // family "" means no match
	}{
		{"user:42", "user", "42", "user#42", "profile"},
		{"user:42:teams", "user-teams", "42", "user#42", "teams"},
		{"user:42:other", "all", "user:42:other", "k#user:42:other", "v"},
		{"user:", "all", "user:", "k#user:", "v"},
		{"user", "all", "user", "k#user", "v"},
		{"email:a@b.c", "email", "a@b.c", "email#a@b.c", "id"},
		{"email:a:b", "all", "email:a:b", "k#email:a:b", "v"},
		{"doc:t1:a/b:c", "doc", "t1", "doc#t1", "a/b:c"},
		{"doc:t1::", "doc", "t1", "doc#t1", ":"},
		{"doc:t1:", "all", "doc:t1:", "k#doc:t1:", "v"},
		{"doc::x", "all", "doc::x", "k#doc::x", "v"},
		{"pair:x-y-z", "pair", "x", "pair#x:y-z", "v"},
		{"pair:-x", "all", "pair:-x", "k#pair:-x", "v"},
		{"pair:x-", "all", "pair:x-", "k#pair:x-", "v"},
		{"config", "config", "config", "config", "v"},
		{"configs", "all", "configs", "k#configs", "v"},
		{"user:\x00\xff", "user", "\x00\xff", "user#\x0000\x00ff", "profile"},
		{"user:é\xe9", "user", "é\xe9", "user#é\x00e9", "profile"},
		{"user:\xed\xa0\x80", "user", "\xed\xa0\x80", "user#\x00ed\x00a0\x0080", "profile"}, // a surrogate is not UTF-8
		{"\xff", "all", "\xff", "k#\x00ff", "v"},
		{"", "", "", "", ""}, // a capture is never empty, not even the catch-all's
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q", tt.key), func(t *testing.T) {
			r, ok, err := m.Route([]byte(tt.key))
			if err != nil {
				t.Fatal(err)
			}
			if tt.family == "" {
				if ok {
					t.Fatalf("routed to %s", r.Family.Name)
				}
				return
			}
			if !ok {
				t.Fatal("no family")
			}
			if r.Family.Name != tt.family || string(r.Entity) != tt.entity || r.PK != tt.pk || r.SK != tt.sk {
				t.Fatalf("got %s %q %q %q, want %s %q %q %q", r.Family.Name, r.Entity, r.PK, r.SK, tt.family, tt.entity, tt.pk, tt.sk)
			}
			if cap(r.Entity) != len(r.Entity) {
				t.Error("Entity can be appended into the key")
			}
		})
	}
	t.Run("without a catch-all", func(t *testing.T) {
		m := MustParseMapping(t, strings.Split(routeMapping, "  - name: all")[0])
		for _, k := range []string{"foo", "user:1:x", "", "user:"} {
			if r, ok, err := m.Route([]byte(k)); ok || err != nil {
				t.Errorf("%q: routed to %v (%v)", k, r.Family, err)
			}
		}
	})
}

func TestMapping_RouteTooLong(t *testing.T) {
	m := MustParseMapping(t, routeMapping)
	tests := []struct {
		key  string
		want string // "" for no error
	}{
		{"user:" + strings.Repeat("a", MaxPKLen-len("user#")), ""},
		{"user:" + strings.Repeat("a", MaxPKLen-len("user#")+1), `ERR hotswap: key too long for family "user": its pk would be 2049 bytes, DynamoDB allows 2048`},
		{"user:" + strings.Repeat("\xff", 700), `ERR hotswap: key too long for family "user": its pk would be 2105 bytes, DynamoDB allows 2048`},
		{"doc:t:" + strings.Repeat("a", MaxSKLen), ""},
		{"doc:t:" + strings.Repeat("a", MaxSKLen+1), `ERR hotswap: key too long for family "doc": its sk would be 1025 bytes, DynamoDB allows 1024`},
		{strings.Repeat("a", 3000), `ERR hotswap: key too long for family "all": its pk would be 3002 bytes, DynamoDB allows 2048`},
	}
	for _, tt := range tests {
		r, ok, err := m.Route([]byte(tt.key))
		if !ok {
			t.Fatalf("%.20q...: no family", tt.key)
		}
		if tt.want == "" {
			if err != nil || len(r.PK) > MaxPKLen || len(r.SK) > MaxSKLen {
				t.Errorf("%.20q...: %v (pk %d, sk %d bytes)", tt.key, err, len(r.PK), len(r.SK))
			}
			continue
		}
		if err == nil || err.Error() != tt.want || !errors.Is(err, ErrKeyTooLong) {
			t.Errorf("%.20q...: error\n got %v\nwant %s", tt.key, err, tt.want)
		}
		if r.Family == nil || len(r.Entity) == 0 || r.PK != "" {
			t.Errorf("%.20q...: route %+v with the error", tt.key, r)
		}
	}
}

// TestMapping_RouteAllocs holds Route to its promise: nothing allocated for a key
// that stays in Redis, one allocation (pk and sk) for a family key.
func TestMapping_RouteAllocs(t *testing.T) {
	m := MustParseMapping(t, strings.Split(routeMapping, "  - name: all")[0])
	for _, tt := range []struct {
		key    string
		allocs float64
	}{
		{"session:abcdef", 0},
		{"user:1:x", 0},
		{"doc:t1", 0},
		{"user:1", 1},
		{"doc:t1:a/b", 1},
	} {
		key := []byte(tt.key)
		if got := testing.AllocsPerRun(100, func() { _, _, _ = m.Route(key) }); got != tt.allocs {
			t.Errorf("%q: %v allocations, want %v", tt.key, got, tt.allocs)
		}
	}
}

// nfaAccepts runs the automaton of a pattern over key, state set by state set.
func nfaAccepts(a patternNFA, key []byte) bool {
	cur := []int{0}
	for _, c := range key {
		var next []int
		for _, s := range cur {
			for _, n := range a.step(s, int(c), nil) {
				if !bytesContainsInt(next, n) {
					next = append(next, n)
				}
			}
		}
		cur = next
	}
	for _, s := range cur {
		if a.final(s) {
			return true
		}
	}
	return false
}

func bytesContainsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// TestMapping_MatchAgreesWithPattern checks the fast matcher against the pattern's
// meaning (its automaton) on random keys, and that the captures rebuild the key
// and obey their class (non-empty; no ':' outside a rest capture).
func TestMapping_MatchAgreesWithPattern(t *testing.T) {
	patterns := []string{
		"user:{id}", "user:{id}:teams", "{a}-{b}", "{a}-{b}-{c}", "a{x}b{y}c", "{a}--{b}",
		"k:{a}:{r...}", "{a}-{r...}", "{r...}", "x{r...}", "{a}:{b}", "ab", "a:b:", ":{a}:",
		"{a}aa{b}", "{a}ab{b}a", "p:{a}b{c...}",
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for _, p := range patterns {
		// Keys of the pattern's own bytes and a few others match often enough.
		alphabet := []byte(strings.NewReplacer("{", "", "}", "", ".", "").Replace(p) + "x:-")
		f := &Family{Match: p}
		if _, err := (&mappingParser{file: "t"}).compileMatch(f, 1, ""); err != nil {
			t.Fatal(err)
		}
		elems, _ := parsePattern(p)
		hits := 0
		for range 20000 {
			var key []byte
			if rng.IntN(2) == 0 {
				// An instance of the pattern whose fills may break the rules.
				for _, e := range elems {
					n := len(e.lit)
					if e.name != "" {
						n = rng.IntN(4)
					}
					for i := range n {
						if e.name == "" && rng.IntN(20) != 0 {
							key = append(key, e.lit[i])
						} else {
							key = append(key, alphabet[rng.IntN(len(alphabet))])
						}
					}
				}
			} else {
				key = make([]byte, rng.IntN(len(p)+4))
				for i := range key {
					key[i] = alphabet[rng.IntN(len(alphabet))]
				}
			}
			caps := make([]capSpan, f.match.nvars)
			got := f.match.matches(key, bytes.Count(key, []byte(":")), caps)
			if want := nfaAccepts(f.matchAtoms, key); got != want {
				t.Fatalf("%q on %q: matcher %v, automaton %v", p, key, got, want)
			}
			if !got {
				continue
			}
			hits++
			var rebuilt []byte
			v := 0
			for _, e := range elems {
				if e.name == "" {
					rebuilt = append(rebuilt, e.lit...)
					continue
				}
				c := key[caps[v].lo:caps[v].hi]
				if len(c) == 0 || (!e.rest && bytes.IndexByte(c, ':') >= 0) {
					t.Fatalf("%q on %q: capture {%s} = %q", p, key, e.name, c)
				}
				rebuilt = append(rebuilt, c...)
				v++
			}
			if !bytes.Equal(rebuilt, key) {
				t.Fatalf("%q on %q: captures rebuild %q", p, key, rebuilt)
			}
		}
		if hits == 0 {
			t.Errorf("%q matched no random key: the test proves nothing for it", p)
		}
	}
}

// unescape reverses the capture escape of pk/sk text.
func unescape(tb testing.TB, s string) []byte {
	tb.Helper()
	var out []byte
	for i := 0; i < len(s); i++ {
		if s[i] != 0 {
			out = append(out, s[i])
			continue
		}
		if i+2 >= len(s) || !isLowerHex(s[i+1]) || !isLowerHex(s[i+2]) {
			tb.Fatalf("%q: NUL at %d is not an escape", s, i)
		}
		var b byte
		fmt.Sscanf(s[i+1:i+3], "%02x", &b)
		out = append(out, b)
		i += 2
	}
	return out
}

func isLowerHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' }

func escapeString(c []byte) string {
	var b strings.Builder
	writeEscaped(&b, c)
	return b.String()
}

func TestMapping_Escape(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"plain", "plain"},
		{"", ""},
		{"\x00", "\x0000"},
		{"a\x00b", "a\x0000b"},
		{"é€😀", "é€😀"},
		{"\uFFFD", "\uFFFD"}, // a real U+FFFD is text, not an invalid byte
		{"\xff", "\x00ff"},
		{"a\xc3", "a\x00c3"}, // a sequence cut short
		{"\xc3\x28", "\x00c3("},
		{"\xe2\x82", "\x00e2\x0082"},
		{"\xf4\x90\x80\x80", "\x00f4\x0090\x0080\x0080"}, // above U+10FFFF
		{"\x00ff", "\x0000ff"},
	} {
		if got := escapeString([]byte(tt.in)); got != tt.want {
			t.Errorf("escape %q = %q, want %q", tt.in, got, tt.want)
		}
		if n := escapedLen([]byte(tt.in)); n != len(tt.want) {
			t.Errorf("escapedLen %q = %d, want %d", tt.in, n, len(tt.want))
		}
	}
	// Round trip on random bytes, biased towards NUL, ':', high bytes and UTF-8.
	rng := rand.New(rand.NewPCG(5, 6))
	pieces := []string{"\x00", ":", "\xff", "\xc3", "\xa9", "é", "😀", "a", "0", "f", "\xed\xa0\x80", "\x80"}
	seen := map[string]string{}
	for range 50000 {
		var b []byte
		for range rng.IntN(6) {
			if rng.IntN(4) == 0 {
				b = append(b, byte(rng.IntN(256)))
			} else {
				b = append(b, pieces[rng.IntN(len(pieces))]...)
			}
		}
		e := escapeString(b)
		if !utf8.ValidString(e) || escapedLen(b) != len(e) {
			t.Fatalf("escape %q = %q: not UTF-8 or length %d", b, e, escapedLen(b))
		}
		if back := unescape(t, e); !bytes.Equal(back, b) {
			t.Fatalf("escape %q = %q reads back as %q", b, e, back)
		}
		if prev, ok := seen[e]; ok && prev != string(b) {
			t.Fatalf("%q and %q both escape to %q", prev, b, e)
		}
		seen[e] = string(b)
	}
}

// TestMapping_Injective routes random keys through families of every shape and
// checks that no two keys get the same item.
func TestMapping_Injective(t *testing.T) {
	m := MustParseMapping(t, routeMapping)
	rng := rand.New(rand.NewPCG(7, 8))
	prefixes := []string{"user:", "email:", "doc:", "pair:", "config", "k#", ""}
	pieces := []string{"\x00", ":", "-", "#", "\xff", "é", "\xc3", "a", "00", "ff", "teams"}
	type item struct{ pk, sk string }
	owner := map[item]string{}
	routed := 0
	for range 100000 {
		key := []byte(prefixes[rng.IntN(len(prefixes))])
		for range rng.IntN(5) {
			key = append(key, pieces[rng.IntN(len(pieces))]...)
		}
		r, ok, err := m.Route(key)
		if !ok || err != nil {
			continue
		}
		routed++
		if !utf8.ValidString(r.PK) || !utf8.ValidString(r.SK) || r.PK == "" || r.SK == "" {
			t.Fatalf("%q: pk %q sk %q", key, r.PK, r.SK)
		}
		it := item{r.PK, r.SK}
		if prev, ok := owner[it]; ok && prev != string(key) {
			t.Fatalf("%q and %q share pk %q sk %q", prev, key, r.PK, r.SK)
		}
		owner[it] = string(key)
	}
	if len(owner) < 1000 {
		t.Fatalf("only %d distinct keys routed (%d routes): the test proves little", len(owner), routed)
	}
}

// TestMapping_TemplateCheckIsSound builds random pk/sk templates over the captures
// of "d:{a}:{b}:{r...}"; for every pair the load accepts, it routes every key with
// short captures and checks that no two keys share an item.
func TestMapping_TemplateCheckIsSound(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	lits := []string{"#", ":", "-", "x", "#:", ":#", "x-"}
	names := []string{"a", "b", "r"}
	randomTemplate := func() string {
		var b strings.Builder
		for i := range 1 + rng.IntN(3) {
			if i > 0 || rng.IntN(2) == 0 {
				b.WriteString(lits[rng.IntN(len(lits))])
			}
			b.WriteString("{" + names[rng.IntN(len(names))] + "}")
		}
		if rng.IntN(2) == 0 {
			b.WriteString(lits[rng.IntN(len(lits))])
		}
		return b.String()
	}
	// Captures: up to two bytes; one-segment ones without ':'.
	var seg, rest []string
	for _, c1 := range []string{"x", "#", "-", ":"} {
		for _, c2 := range []string{"", "x", "#", "-", ":"} {
			rest = append(rest, c1+c2)
			if !strings.Contains(c1+c2, ":") {
				seg = append(seg, c1+c2)
			}
		}
	}
	accepted, rejected := 0, 0
	for accepted < 60 {
		pk, sk := randomTemplate(), randomTemplate()
		src := withHeader(family("d", `"d:{a}:{b}:{r...}"`, "string", fmt.Sprintf("%q", pk), fmt.Sprintf("%q", sk))...)
		m, err := ParseMapping([]byte(src), "m.yaml")
		if err != nil {
			rejected++
			continue
		}
		accepted++
		type item struct{ pk, sk string }
		owner := map[item]string{}
		for _, a := range seg {
			for _, b := range seg {
				for _, r := range rest {
					key := "d:" + a + ":" + b + ":" + r
					rt, ok, err := m.Route([]byte(key))
					if !ok || err != nil {
						t.Fatalf("%q: not routed (%v)", key, err)
					}
					it := item{rt.PK, rt.SK}
					if prev, dup := owner[it]; dup {
						t.Fatalf("pk %q sk %q was accepted, but %q and %q share pk %q sk %q", pk, sk, prev, key, rt.PK, rt.SK)
					}
					owner[it] = key
				}
			}
		}
	}
	if rejected == 0 {
		t.Fatal("no template was rejected: the random templates are too tame")
	}
}

// fuzzMapping is the mapping FuzzRoute routes against.
func fuzzMapping(tb testing.TB) *Mapping {
	src := strings.Replace(routeMapping, "  - name: all", `  - name: many
    match: "m:{a}:{b}:{c}:{d}:{e}:{f}:{g}:{h}:{i}:{j}"
    type: hash
    pk: "m#{a}:{b}:{c}:{d}:{e}"
    sk: "{f}:{g}:{h}:{i}:{j}"
  - name: mid
    match: "x{a}y{b}z:{r...}"
    type: string
    pk: "x#{a}:{b}:{r}"
    sk: v
  - name: all`, 1)
	return MustParseMapping(tb, src)
}

func FuzzRoute(f *testing.F) {
	for _, k := range []string{"", "user:1", "user:1:teams", "doc:t:a:b", "pair:a-b-c", "config", "m:1:2:3:4:5:6:7:8:9:10", "xayzbz:", "xayyzbz:r", "\x00\xff:"} {
		f.Add([]byte(k))
	}
	m := fuzzMapping(f)
	f.Fuzz(func(t *testing.T, key []byte) {
		r, ok, err := m.Route(key)
		if !ok {
			if len(key) != 0 {
				t.Fatalf("%q: no family, but the mapping has a catch-all", key)
			}
			return
		}
		for _, g := range m.Families {
			// The automaton is the slow oracle: long keys only check for panics.
			if len(key) <= 1024 && !g.CatchAll && nfaAccepts(g.matchAtoms, key) != (g == r.Family) {
				t.Fatalf("%q routed to %s, but %s's pattern says otherwise", key, r.Family.Name, g.Name)
			}
		}
		if err != nil {
			if !errors.Is(err, ErrKeyTooLong) || !strings.HasPrefix(err.Error(), "ERR hotswap: ") {
				t.Fatalf("%q: %v", key, err)
			}
			return
		}
		if !utf8.ValidString(r.PK) || !utf8.ValidString(r.SK) || len(r.PK) > MaxPKLen || len(r.SK) > MaxSKLen || r.PK == "" || r.SK == "" {
			t.Fatalf("%q: pk %q sk %q", key, r.PK, r.SK)
		}
		if !bytes.Contains(key, r.Entity) || len(r.Entity) == 0 {
			t.Fatalf("%q: entity %q", key, r.Entity)
		}
	})
}

// BenchmarkRoute routes against ten families, as a registry might declare.
func BenchmarkRoute(b *testing.B) {
	var lines []string
	for _, name := range []string{"user", "team", "org", "session", "invite", "project", "repo", "token", "device"} {
		lines = append(lines, family(name, `"`+name+`:{id}"`, "hash", `"`+name+`#{id}"`, "v")...)
	}
	lines = append(lines, family("user-teams", `"user:{id}:teams"`, "set", `"user#{id}"`, "teams")...)
	noCatchAll := MustParseMapping(b, withHeader(lines...))
	withCatchAll := MustParseMapping(b, withHeader(append(lines, family("all", `"{key...}"`, "", `"k#{key}"`, "v")...)...))
	for _, bc := range []struct {
		name string
		m    *Mapping
		key  string
	}{
		{"hit", noCatchAll, "user:8f14e45fceea167a5a36dedd4bea2543"},
		{"hit-last", noCatchAll, "user:8f14e45fceea167a5a36dedd4bea2543:teams"},
		{"miss", noCatchAll, "cache:page:/index.html"},
		{"miss-after-prefix", noCatchAll, "user:8f14e45f:settings:theme"},
		{"catch-all", withCatchAll, "cache:page:/index.html"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			key := []byte(bc.key)
			b.ReportAllocs()
			for b.Loop() {
				_, _, _ = bc.m.Route(key)
			}
		})
	}
}
