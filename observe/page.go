package observe

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"sort"
	"strings"
	"time"

	"hotswap/translate"
)

//go:embed page.html
var pageHTML string

// stageColors are the stages' colours on the page, in stage order.
var stageColors = [nStages]string{"#9ca3af", "#60a5fa", "#a78bfa", "#34d399", "#f59e0b", "#047857"}

// PageHandler serves the status page: server-rendered HTML with inline SVG, no
// script, refreshed by the browser every refresh.
func (ob *Observer) PageHandler(refresh time.Duration) http.Handler {
	tmpl := template.Must(template.New("page").Funcs(template.FuncMap{
		"pct":      pct,
		"num":      num,
		"rate":     func(f float64) string { return fmt.Sprintf("%.1f", f) },
		"msf":      func(f float64) string { return fmt.Sprintf("%.2f", f) },
		"dur":      func(s float64) string { return (time.Duration(s) * time.Second).String() },
		"ago":      func(ms int64) string { return (time.Duration(ms) * time.Millisecond).Round(time.Millisecond).String() },
		"stagebar": stageBar,
		"legend":   legend,
		"spark":    spark,
		"agree":    agreeBar,
		"kinds":    kinds,
		"generic":  generic,
		"fleet":    func(raw json.RawMessage) template.HTML { return statusPart(raw, "fleet") },
		"backfillpart": func(raw json.RawMessage) template.HTML {
			return statusPart(raw, "backfill")
		},
		"haspart":    hasPart,
		"stages":     stageOrder,
		"stagecolor": func(i int) string { return stageColors[i] },
		"pctdone": func(b BackfillProgress) string {
			if p := b.Percent(); p >= 0 {
				return fmt.Sprintf("%.1f%%", p)
			}
			return "—"
		},
	}).Parse(pageHTML))
	secs := int(refresh.Seconds())
	if secs <= 0 {
		secs = 5
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		sum := ob.Summary(r.Context())
		var buf bytes.Buffer
		if err := tmpl.Execute(&buf, struct {
			S       Summary
			Refresh int
		}{sum, secs}); err != nil {
			ob.log.Warn("status page: render", "err", err)
			http.Error(w, "status page: "+err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(buf.Bytes())
	})
}

// SummaryHandler serves the Summary as JSON (/summary), for `hotswap status`.
func (ob *Observer) SummaryHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(ob.Summary(r.Context())); err != nil {
			ob.log.Warn("summary: encode", "err", err)
		}
	})
}

func pct(f float64) string {
	if f < 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f%%", f*100)
}

func num(n uint64) string {
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// stageBar is a stacked bar of a family's commands per stage.
func stageBar(stages map[string]uint64) template.HTML {
	var total uint64
	for _, n := range stages {
		total += n
	}
	const w, h = 240.0, 16.0
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="bar" width="%g" height="%g" viewBox="0 0 %g %g" role="img" aria-label="stage mix">`, w, h, w, h)
	if total == 0 {
		fmt.Fprintf(&b, `<rect width="%g" height="%g" fill="#e5e7eb"/><text x="6" y="12" font-size="10" fill="#6b7280">no commands</text>`, w, h)
	}
	x := 0.0
	for st := 0; st < nStages; st++ {
		n := stages[stageName(st)]
		if n == 0 {
			continue
		}
		bw := w * float64(n) / float64(total)
		fmt.Fprintf(&b, `<rect x="%.2f" width="%.2f" height="%g" fill="%s"><title>%s: %d</title></rect>`, x, bw, h, stageColors[st], stageName(st), n)
		x += bw
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// legend names the stages a family served, with their share.
func legend(stages map[string]uint64) template.HTML {
	var total uint64
	for _, n := range stages {
		total += n
	}
	var b strings.Builder
	for st := 0; st < nStages; st++ {
		n := stages[stageName(st)]
		if n == 0 {
			continue
		}
		fmt.Fprintf(&b, `<span class="chip"><i style="background:%s"></i>%s %.0f%%</span> `, stageColors[st],
			template.HTMLEscapeString(stageName(st)), float64(n)*100/float64(total))
	}
	return template.HTML(b.String())
}

// agreeBar draws shadow agreement: green for matches, red for mismatches.
func agreeBar(c ShadowCounts) template.HTML {
	const w, h = 120.0, 10.0
	n := c.Match + c.Mismatch
	if n == 0 {
		return template.HTML(`<span class="muted">no comparisons</span>`)
	}
	mw := w * float64(c.Match) / float64(n)
	return template.HTML(fmt.Sprintf(`<svg class="bar" width="%g" height="%g" viewBox="0 0 %g %g"><rect width="%.2f" height="%g" fill="#10b981"/><rect x="%.2f" width="%.2f" height="%g" fill="#ef4444"/></svg>`,
		w, h, w, h, mw, h, mw, w-mw, h))
}

func kinds(m map[string]uint64) string {
	if len(m) == 0 {
		return ""
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

// spark is a sparkline of commands per second over the window.
func spark(vals []float64) template.HTML {
	const w, h = 360.0, 48.0
	if len(vals) < 2 {
		return template.HTML(`<span class="muted">collecting…</span>`)
	}
	hi := 0.0
	for _, v := range vals {
		hi = math.Max(hi, v)
	}
	if hi == 0 {
		hi = 1
	}
	var pts []string
	for i, v := range vals {
		x := w * float64(i) / float64(len(vals)-1)
		y := h - 2 - (h-4)*v/hi
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", x, y))
	}
	return template.HTML(fmt.Sprintf(`<svg class="spark" width="%g" height="%g" viewBox="0 0 %g %g" role="img" aria-label="commands per second"><polyline fill="none" stroke="#2563eb" stroke-width="1.5" points="%s"/><text x="%g" y="10" font-size="10" text-anchor="end" fill="#6b7280">max %.0f/s</text></svg>`,
		w, h, w, h, strings.Join(pts, " "), w-2, hi))
}

// hasPart reports whether the /status document has a non-empty member name.
func hasPart(raw json.RawMessage, name string) bool {
	var doc map[string]json.RawMessage
	if json.Unmarshal(raw, &doc) != nil {
		return false
	}
	v, ok := doc[name]
	return ok && string(v) != "null" && string(v) != "{}" && string(v) != "[]"
}

// statusPart renders a member of the /status document, whatever its shape.
func statusPart(raw json.RawMessage, name string) template.HTML {
	var doc map[string]any
	if json.Unmarshal(raw, &doc) != nil {
		return ""
	}
	return generic(doc[name])
}

// generic renders decoded JSON as HTML: a list of objects as a table, an object as
// a two-column table, anything else as text. Everything is escaped.
func generic(v any) template.HTML {
	var b strings.Builder
	renderAny(&b, v, 0)
	return template.HTML(b.String())
}

func renderAny(b *strings.Builder, v any, depth int) {
	esc := template.HTMLEscapeString
	switch x := v.(type) {
	case nil:
		b.WriteString(`<span class="muted">—</span>`)
	case map[string]any:
		if depth > 3 {
			js, _ := json.Marshal(x)
			b.WriteString("<code>" + esc(string(js)) + "</code>")
			return
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteString(`<table class="kv">`)
		for _, k := range keys {
			b.WriteString("<tr><th>" + esc(k) + "</th><td>")
			renderAny(b, x[k], depth+1)
			b.WriteString("</td></tr>")
		}
		b.WriteString("</table>")
	case []any:
		if len(x) == 0 {
			b.WriteString(`<span class="muted">none</span>`)
			return
		}
		cols := map[string]bool{}
		objs := true
		for _, e := range x {
			m, ok := e.(map[string]any)
			if !ok {
				objs = false
				break
			}
			for k := range m {
				cols[k] = true
			}
		}
		if !objs || depth > 3 {
			for i, e := range x {
				if i > 0 {
					b.WriteString(", ")
				}
				renderAny(b, e, depth+1)
			}
			return
		}
		names := make([]string, 0, len(cols))
		for k := range cols {
			names = append(names, k)
		}
		sort.Strings(names)
		b.WriteString(`<table class="grid"><tr>`)
		for _, k := range names {
			b.WriteString("<th>" + esc(k) + "</th>")
		}
		b.WriteString("</tr>")
		for _, e := range x {
			b.WriteString("<tr>")
			for _, k := range names {
				b.WriteString("<td>")
				renderAny(b, e.(map[string]any)[k], depth+1)
				b.WriteString("</td>")
			}
			b.WriteString("</tr>")
		}
		b.WriteString("</table>")
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1e15 {
			b.WriteString(esc(fmt.Sprintf("%d", int64(x))))
		} else {
			b.WriteString(esc(fmt.Sprintf("%g", x)))
		}
	default:
		b.WriteString(esc(fmt.Sprint(x)))
	}
}

// stageOrder lists the stage names in order (for the legend on the page).
func stageOrder() []string {
	out := make([]string, nStages)
	for i := range out {
		out[i] = translate.Stage(i).String()
	}
	return out
}
