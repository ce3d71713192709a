package flags

import (
	"encoding/json"
	"fmt"

	"hotswap/translate"
)

// StageRange reads a configuration (flagd's JSON format) and returns the lowest
// and highest stage the flag can give any entity: the default variant and every
// variant its targeting names, except fractional buckets of weight 0. It is
// conservative (a rule that can never match still counts), which is what the
// fleet registry needs: backfill starts only when no entity can be below
// dualwrite. ok is false when the flag is missing, disabled or names no stage.
func StageRange(data []byte, flag string) (lo, hi translate.Stage, ok bool, err error) {
	var doc struct {
		Flags map[string]struct {
			State          string          `json:"state"`
			Variants       map[string]any  `json:"variants"`
			DefaultVariant string          `json:"defaultVariant"`
			Targeting      json.RawMessage `json:"targeting"`
		} `json:"flags"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return 0, 0, false, fmt.Errorf("flags: stage range of %s: %w", flag, err)
	}
	f, found := doc.Flags[flag]
	if !found || f.State == "DISABLED" {
		return 0, 0, false, nil
	}
	names := map[string]bool{}
	var t any
	if len(f.Targeting) > 0 {
		if err := json.Unmarshal(f.Targeting, &t); err != nil {
			return 0, 0, false, fmt.Errorf("flags: stage range of %s: targeting: %w", flag, err)
		}
		collectVariants(t, f.Variants, names)
	}
	// The default applies unless the targeting is one fractional split, which
	// always names a bucket.
	if f.DefaultVariant != "" && (len(names) == 0 || !onlyFractional(t)) {
		names[f.DefaultVariant] = true
	}
	lo, hi = translate.StageComplete, translate.StageOff
	for name := range names {
		v, isString := f.Variants[name].(string)
		if !isString {
			continue
		}
		st, perr := translate.ParseStage(v)
		if perr != nil {
			continue
		}
		ok = true
		lo, hi = min(lo, st), max(hi, st)
	}
	if !ok {
		return 0, 0, false, nil
	}
	return lo, hi, true, nil
}

// onlyFractional reports whether targeting is {"fractional": [...]} alone.
func onlyFractional(t any) bool {
	m, ok := t.(map[string]any)
	if !ok || len(m) != 1 {
		return false
	}
	_, ok = m["fractional"].([]any)
	return ok
}

// collectVariants adds to names every string in v that names a variant, except
// the first element of a [name, 0] pair (a fractional bucket that gets no one).
func collectVariants(v any, variants map[string]any, names map[string]bool) {
	switch x := v.(type) {
	case string:
		if _, ok := variants[x]; ok {
			names[x] = true
		}
	case []any:
		if len(x) == 2 {
			if _, ok := x[0].(string); ok {
				if w, ok := x[1].(float64); ok && w == 0 {
					return
				}
			}
		}
		for _, e := range x {
			collectVariants(e, variants, names)
		}
	case map[string]any:
		for _, e := range x {
			collectVariants(e, variants, names)
		}
	}
}
