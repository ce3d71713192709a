package command

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"hotswap/proxy/command/internal/cmdinfo"
)

var mergeByName = map[string]Merge{
	"MergeNone": MergeNone, "MergeJoin": MergeJoin, "MergeSum": MergeSum, "MergeAllOK": MergeAllOK,
	"MergeOneOK": MergeOneOK, "MergeMin": MergeMin, "MergeMax": MergeMax, "MergeAnd": MergeAnd,
	"MergeOr": MergeOr, "MergeSpecial": MergeSpecial,
}

// fromLive converts a live COMMAND INFO entry the way gen does.
func fromLive(c *cmdinfo.Command) (*Info, error) {
	info := &Info{
		Name: c.Name, Arity: c.Arity, FirstKey: c.FirstKey, LastKey: c.LastKey, Step: c.Step,
		Categories: c.Categories, Tips: c.Tips, Group: c.Group, Summary: c.Summary,
	}
	m, ok := mergeByName[cmdinfo.Merge(c.Tips)]
	if !ok {
		return nil, fmt.Errorf("%s: unknown merge %q", c.Name, cmdinfo.Merge(c.Tips))
	}
	info.Merge = m
	for _, f := range c.Flags {
		fl, ok := ParseFlag(f)
		if !ok {
			return nil, fmt.Errorf("%s: unknown flag %q", c.Name, f)
		}
		info.Flags |= fl
	}
	for _, s := range c.KeySpecs {
		ks := KeySpec{Flags: strings.ToUpper(strings.Join(s.Flags, " ")), Index: s.Index,
			Keyword: strings.ToUpper(s.Keyword), StartFrom: s.StartFrom, LastKey: s.LastKey,
			KeyStep: s.KeyStep, Limit: s.Limit, KeyNumIdx: s.KeyNumIdx, FirstKey: s.FirstKey}
		ks.Begin = map[string]BeginKind{"index": BeginIndex, "keyword": BeginKeyword}[s.BeginType]
		ks.Find = map[string]FindKind{"range": FindRange, "keynum": FindKeyNum}[s.FindType]
		info.Keys = append(info.Keys, ks)
	}
	for _, s := range c.Subcommands {
		sub, err := fromLive(s)
		if err != nil {
			return nil, err
		}
		if info.Subcommands == nil {
			info.Subcommands = map[string]*Info{}
		}
		info.Subcommands[strings.TrimPrefix(s.Name, c.Name+"|")] = sub
	}
	return info, nil
}

// diffInfo lists the fields in which the table's entry differs from the live one.
func diffInfo(got, want *Info) []string {
	var d []string
	g, w := *got, *want
	g.keys, w.keys = keyMeta{}, keyMeta{}
	g.Subcommands, w.Subcommands = nil, nil
	g.Keys = append([]KeySpec(nil), g.Keys...)
	for j := range g.Keys {
		g.Keys[j].kflags = 0
	}
	gv, wv := reflect.ValueOf(g), reflect.ValueOf(w)
	for j := 0; j < gv.NumField(); j++ {
		f := gv.Type().Field(j)
		if !f.IsExported() {
			continue
		}
		a, b := gv.Field(j).Interface(), wv.Field(j).Interface()
		if !reflect.DeepEqual(a, b) && !(reflect.ValueOf(a).Kind() == reflect.Slice && gv.Field(j).Len() == 0 && wv.Field(j).Len() == 0) {
			d = append(d, fmt.Sprintf("%s: %s: table %v, live %v", got.Name, f.Name, a, b))
		}
	}
	for name, ws := range want.Subcommands {
		gs, ok := got.Subcommands[name]
		if !ok {
			d = append(d, fmt.Sprintf("%s: subcommand %s missing from the table", got.Name, name))
			continue
		}
		d = append(d, diffInfo(gs, ws)...)
	}
	for name := range got.Subcommands {
		if _, ok := want.Subcommands[name]; !ok {
			d = append(d, fmt.Sprintf("%s: subcommand %s unknown to the live server", got.Name, name))
		}
	}
	return d
}

func TestTable_MatchesLiveServer(t *testing.T) {
	c := MustDialRedis(t)
	version, err := cmdinfo.Version(c)
	if err != nil {
		t.Fatal(err)
	}
	cmds, err := cmdinfo.Fetch(c)
	if err != nil {
		t.Fatal(err)
	}
	report := t.Errorf
	if version != GeneratedFrom {
		t.Logf("live redis-server is %s, table generated from %s: comparing the commands both know, logging differences", version, GeneratedFrom)
		report = t.Logf
	}
	live := map[string]bool{}
	for _, lc := range cmds {
		live[lc.Name] = true
		want, err := fromLive(lc)
		if err != nil {
			report("%v", err)
			continue
		}
		got, ok := table[lc.Name]
		if !ok {
			report("%s: missing from the table", lc.Name)
			continue
		}
		for _, d := range diffInfo(got, want) {
			report("%s", d)
		}
	}
	for name := range table {
		if !live[name] {
			report("%s: in the table, unknown to the live server", name)
		}
	}
}

func TestTable_Merge(t *testing.T) {
	tests := map[string]Merge{
		"mget": MergeJoin, "del": MergeSum, "exists": MergeSum, "unlink": MergeSum, "touch": MergeSum,
		"mset": MergeAllOK, "msetnx": MergeMin, "get": MergeNone, "hgetall": MergeNone,
		"dbsize": MergeSum, "flushall": MergeAllOK, "wait": MergeMin, "scan": MergeSpecial,
		"info": MergeSpecial, "keys": MergeNone, "randomkey": MergeNone,
	}
	for name, want := range tests {
		if got := table[name].Merge; got != want {
			t.Errorf("%s: Merge = %d, want %d", name, got, want)
		}
	}
	if got := table["script"].Subcommands["exists"].Merge; got != MergeAnd {
		t.Errorf("script|exists: Merge = %d, want MergeAnd", got)
	}
	if got := table["script"].Subcommands["kill"].Merge; got != MergeOneOK {
		t.Errorf("script|kill: Merge = %d, want MergeOneOK", got)
	}
}

func TestTable_Consistency(t *testing.T) {
	for name, info := range table {
		if info.Name != name {
			t.Errorf("table[%q].Name = %q", name, info.Name)
		}
		if info.Name != strings.ToLower(info.Name) {
			t.Errorf("%q is not lower case", info.Name)
		}
		for sub, s := range info.Subcommands {
			if s.Name != name+"|"+sub {
				t.Errorf("table[%q].Subcommands[%q].Name = %q", name, sub, s.Name)
			}
		}
	}
	for name := range getKeysProcs {
		info, ok := table[name]
		if !ok {
			t.Errorf("getkeys procedure for %q, which the table lacks", name)
			continue
		}
		if !info.keys.hasVarFlags && !info.Has(MovableKeys) {
			t.Errorf("%s has a getkeys procedure but neither movablekeys nor VARIABLE_FLAGS", name)
		}
	}
	// Every command whose key specs alone cannot locate its keys has a procedure.
	for name, info := range table {
		for _, ks := range info.Keys {
			if (ks.Begin == BeginUnknown || ks.Find == FindUnknown || ks.HasFlag("incomplete") || ks.HasFlag("variable_flags")) && info.keys.proc == nil {
				t.Errorf("%s: spec %+v needs a getkeys procedure", name, ks)
			}
		}
	}
}

func TestFlag(t *testing.T) {
	for i, n := range flagNames {
		f, ok := ParseFlag(n)
		if !ok || f != 1<<i {
			t.Errorf("ParseFlag(%q) = %v, %v", n, f, ok)
		}
	}
	if _, ok := ParseFlag("nosuch"); ok {
		t.Error("ParseFlag(nosuch) ok")
	}
	if got := (ReadOnly | Fast).String(); got != "readonly fast" {
		t.Errorf("String() = %q", got)
	}
	if !table["get"].Has(ReadOnly|Fast) || table["get"].Has(Write) {
		t.Error("get flags")
	}
	if !table["eval"].Keys[0].HasFlag("access") || table["eval"].Keys[0].HasFlag("acc") {
		t.Error("KeySpec.HasFlag")
	}
}

func TestDiffInfo(t *testing.T) {
	base := table["xread"]
	same := *base
	same.keys = keyMeta{}
	if d := diffInfo(base, &same); len(d) != 0 {
		t.Errorf("diffInfo(x, x) = %v", d)
	}
	changed := same
	changed.Keys = append([]KeySpec(nil), base.Keys...)
	changed.Keys[0].Limit = 3
	changed.Arity = -5
	if d := diffInfo(base, &changed); len(d) != 2 {
		t.Errorf("diffInfo found %d differences, want 2: %v", len(d), d)
	}
	cfg := *table["config"]
	cfg.Subcommands = map[string]*Info{"get": cfg.Subcommands["get"]}
	if d := diffInfo(table["config"], &cfg); len(d) == 0 {
		t.Error("diffInfo missed extra subcommands")
	}
}
