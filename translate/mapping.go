package translate

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// ErrInvalidMapping is wrapped by every problem ParseMapping finds in a mapping file.
var ErrInvalidMapping = errors.New("invalid mapping")

// ErrKeyTooLong is wrapped by the error Route returns for a key whose pk or sk
// would exceed DynamoDB's key limits.
var ErrKeyTooLong = errors.New("key too long for DynamoDB")

// DynamoDB's limits on the two key attributes, in bytes of UTF-8.
const (
	MaxPKLen = 2048
	MaxSKLen = 1024
)

// Consistency is how a family's DynamoDB reads are made (DESIGN.md §4).
type Consistency uint8

const (
	// Strong reads use ConsistentRead, so a client reads its own writes as with Redis.
	Strong Consistency = iota
	// Eventual reads may be served by DAX's caches and can miss a recent write.
	Eventual
)

// String returns the name the mapping file uses.
func (c Consistency) String() string {
	if c == Eventual {
		return "eventual"
	}
	return "strong"
}

// Mapping is a loaded mapping file: which Redis keys (of db 0) move to which
// DynamoDB items. It is read-only after loading, so any number of goroutines may
// Route at once.
type Mapping struct {
	// Table is the DynamoDB table (pk S, sk S) that holds every family.
	Table string
	// Families in file order.
	Families []*Family

	byName   map[string]*Family
	catchAll *Family // nil when the file has none
	// byFirst[c] lists the families (not the catch-all) a key starting with byte c
	// can match: those whose match starts with c or with a placeholder. Route looks
	// at one short list instead of every family.
	byFirst [256][]*Family
}

// Family is one key family of the mapping file.
type Family struct {
	Name  string
	Match string // the match pattern as written
	PK    string // the pk template as written
	SK    string // the sk template as written
	// Flag is the flag key that stages the family; default hotswap.<name>.stage.
	Flag string
	// Kind is the Redis type of every key of the family; KindNone for a catch-all
	// whose type comes from the first write of each key.
	Kind Kind
	// CatchAll is set when the match is exactly "{name...}": the family takes the
	// keys no other family matches.
	CatchAll bool
	// Floor is the stage no evaluation goes below; default StageOff.
	Floor Stage
	// Read is the consistency of DynamoDB reads; default Strong.
	Read Consistency
	// Numeric names the hash fields stored as N while their value is a canonical
	// integer; for a string family the key "" means the value. nil when none.
	Numeric map[string]bool
	// Line is where the family starts in the file, for messages.
	Line int

	match  keyMatcher
	pk, sk keyTemplate
	// The match, and pk itemSep sk, as automata for the load-time checks.
	matchAtoms, itemAtoms patternNFA
}

// Route is where a key of a family lives in DynamoDB.
type Route struct {
	Family *Family
	// Entity is the flag targeting key: the capture of the match's first placeholder,
	// or the whole key for a match without placeholders. It is a sub-slice of the
	// key given to Route (capacity clipped), not a copy.
	Entity []byte
	// PK and SK are the item's primary key.
	PK, SK string
}

// Family returns the family with that name, or nil.
func (m *Mapping) Family(name string) *Family { return m.byName[name] }

// Route finds the family of a db-0 key. ok is false when no family matches: the
// key stays in Redis. err is non-nil when a family matches but the key cannot be
// stored in DynamoDB (its pk or sk would be too long); r.Family and r.Entity are
// then set, and the error's text is a complete Redis error reply naming the family.
//
// Route is on every command's path: a key that matches no family costs a few
// prefix comparisons and no allocation, and a matching key costs one allocation
// (the pk and sk text).
func (m *Mapping) Route(key []byte) (r Route, ok bool, err error) {
	if len(key) == 0 {
		// Every pattern needs at least one byte, the catch-all's too.
		return Route{}, false, nil
	}
	// Captures go into this array while a family is tried, so a failed match
	// allocates nothing; a family with more placeholders than fit is matched first
	// without captures.
	var buf [8]capSpan
	colons := -1 // ':' count of the key, counted once and only if some prefix matched
	for _, f := range m.byFirst[key[0]] {
		if !keyHasPrefix(key, f.match.prefix) {
			continue
		}
		if colons < 0 {
			colons = bytes.Count(key, []byte{':'})
		}
		var caps []capSpan // nil: match without recording captures
		if f.match.nvars <= len(buf) {
			caps = buf[:f.match.nvars]
		}
		if !f.match.matches(key, colons, caps) {
			continue
		}
		if len(caps) < f.match.nvars {
			caps = make([]capSpan, f.match.nvars)
			f.match.matches(key, colons, caps)
		}
		r, err = f.route(key, caps)
		return r, true, err
	}
	if f := m.catchAll; f != nil {
		// "{name...}" captures the whole key: no matching to do.
		buf[0] = capSpan{0, len(key)}
		r, err = f.route(key, buf[:1])
		return r, true, err
	}
	return Route{}, false, nil
}

func keyHasPrefix(key []byte, prefix string) bool {
	return len(key) >= len(prefix) && string(key[:len(prefix)]) == prefix
}

// route renders the pk and sk of a key the family matched, with captures caps.
func (f *Family) route(key []byte, caps []capSpan) (Route, error) {
	r := Route{Family: f, Entity: key[:len(key):len(key)]}
	if len(caps) > 0 {
		r.Entity = key[caps[0].lo:caps[0].hi:caps[0].hi]
	}
	pkLen, skLen := f.pk.size(key, caps), f.sk.size(key, caps)
	if pkLen > MaxPKLen {
		return r, &keyTooLongError{fmt.Sprintf("ERR hotswap: key too long for family %q: its pk would be %d bytes, DynamoDB allows %d", f.Name, pkLen, MaxPKLen)}
	}
	if skLen > MaxSKLen {
		return r, &keyTooLongError{fmt.Sprintf("ERR hotswap: key too long for family %q: its sk would be %d bytes, DynamoDB allows %d", f.Name, skLen, MaxSKLen)}
	}
	// One allocation for both: pk and sk share the rendered text.
	var b strings.Builder
	b.Grow(pkLen + skLen)
	f.pk.write(&b, key, caps)
	f.sk.write(&b, key, caps)
	s := b.String()
	r.PK, r.SK = s[:pkLen], s[pkLen:]
	return r, nil
}

// keyTooLongError is a Redis error reply that wraps ErrKeyTooLong.
type keyTooLongError struct{ msg string }

func (e *keyTooLongError) Error() string { return e.msg }
func (e *keyTooLongError) Unwrap() error { return ErrKeyTooLong }

// ---- matching ----

// capSpan is a capture: key[lo:hi].
type capSpan struct{ lo, hi int }

// keyMatcher is a compiled match pattern. A one-segment capture never contains ':',
// so every ':' of a matching key before the rest capture comes from the pattern's
// literal text, in order: the key splits at its ':' into the same segments as the
// pattern, and each segment is a glob (literals and non-empty wildcards) matched
// on its own. Taking each literal at its earliest place is then exact, with no
// backtracking, and gives the shortest capture to earlier placeholders.
type keyMatcher struct {
	prefix string         // literal text before the first placeholder: the fast reject
	segs   []matchSegment // the pattern split at the ':' of its literal text
	rest   bool           // the last segment ends with a {name...} capture
	nvars  int            // placeholders, numbered in pattern order
}

// matchSegment is the part of a pattern between two ':'. A one-segment placeholder sits
// between each two lits; in a segment that ends with the rest capture, that capture
// follows the last lit. lits[1:] are never empty (placeholders need literal text
// between them); lits[0] and the last may be.
type matchSegment struct {
	lits [][]byte
	vars []int // capture index of each placeholder, in order
}

// matches reports whether key matches; colons is the count of ':' in key. When caps
// is not nil it receives the captures (len(caps) == m.nvars).
func (m *keyMatcher) matches(key []byte, colons int, caps []capSpan) bool {
	if colons < len(m.segs)-1 || (!m.rest && colons != len(m.segs)-1) {
		return false
	}
	pos := 0
	last := len(m.segs) - 1
	for i := range last {
		j := bytes.IndexByte(key[pos:], ':')
		if !m.segs[i].glob(key[pos:pos+j], pos, caps) {
			return false
		}
		pos += j + 1
	}
	if m.rest {
		return m.segs[last].globRest(key[pos:], pos, caps)
	}
	return m.segs[last].glob(key[pos:], pos, caps)
}

// glob matches one ':'-free segment s, found at offset base of the key.
func (g *matchSegment) glob(s []byte, base int, caps []capSpan) bool {
	k := len(g.lits) - 1 // placeholders
	if k == 0 {
		return bytes.Equal(s, g.lits[0])
	}
	if !bytes.HasPrefix(s, g.lits[0]) || !bytes.HasSuffix(s, g.lits[k]) {
		return false
	}
	pos, end := len(g.lits[0]), len(s)-len(g.lits[k])
	for i := 1; i < k; i++ {
		// Placeholder i-1 takes s[pos:at] with at > pos; lits[i] must leave a
		// byte for the placeholder after it.
		lo, hi := pos+1, end-1
		if hi-lo < len(g.lits[i]) {
			return false
		}
		j := bytes.Index(s[lo:hi], g.lits[i])
		if j < 0 {
			return false
		}
		if caps != nil {
			caps[g.vars[i-1]] = capSpan{base + pos, base + lo + j}
		}
		pos = lo + j + len(g.lits[i])
	}
	if pos >= end {
		return false
	}
	if caps != nil {
		caps[g.vars[k-1]] = capSpan{base + pos, base + end}
	}
	return true
}

// globRest matches the last segment of a pattern ending in {name...}: s is the rest
// of the key and may contain ':', but only the rest capture may.
func (g *matchSegment) globRest(s []byte, base int, caps []capSpan) bool {
	k := len(g.lits) - 1 // one-segment placeholders before the rest capture
	if !bytes.HasPrefix(s, g.lits[0]) {
		return false
	}
	colon := bytes.IndexByte(s, ':')
	if colon < 0 {
		colon = len(s)
	}
	pos := len(g.lits[0])
	for i := 1; i <= k; i++ {
		// lits[i] lies before the first ':' and leaves a byte for the rest capture.
		lo, hi := pos+1, min(colon, len(s)-1)
		if hi-lo < len(g.lits[i]) {
			return false
		}
		j := bytes.Index(s[lo:hi], g.lits[i])
		if j < 0 {
			return false
		}
		if caps != nil {
			caps[g.vars[i-1]] = capSpan{base + pos, base + lo + j}
		}
		pos = lo + j + len(g.lits[i])
	}
	if pos >= len(s) {
		return false
	}
	if caps != nil {
		caps[g.vars[k]] = capSpan{base + pos, base + len(s)}
	}
	return true
}

// ---- rendering ----

// keyTemplate is a compiled pk or sk template.
type keyTemplate struct {
	parts []templatePart
	fixed int // bytes of literal text
}

// templatePart is literal text (v < 0) or the capture number v.
type templatePart struct {
	lit string
	v   int
}

func (t *keyTemplate) size(key []byte, caps []capSpan) int {
	n := t.fixed
	for _, p := range t.parts {
		if p.v >= 0 {
			n += escapedLen(key[caps[p.v].lo:caps[p.v].hi])
		}
	}
	return n
}

func (t *keyTemplate) write(b *strings.Builder, key []byte, caps []capSpan) {
	for _, p := range t.parts {
		if p.v < 0 {
			b.WriteString(p.lit)
		} else {
			writeEscaped(b, key[caps[p.v].lo:caps[p.v].hi])
		}
	}
}

// A capture goes into pk/sk as is when it is UTF-8 without NUL, which keeps ordinary
// keys readable. Otherwise NUL and each byte of an invalid UTF-8 sequence become NUL
// and two lower-case hex digits. Rendered text never holds NUL except as such an
// escape, so the escape decodes uniquely: different captures, different text.
func escapedLen(c []byte) int {
	if bytes.IndexByte(c, 0) < 0 && utf8.Valid(c) {
		return len(c)
	}
	n := 0
	for i := 0; i < len(c); {
		if b := c[i]; b != 0 && b < utf8.RuneSelf {
			n++
			i++
			continue
		}
		r, size := utf8.DecodeRune(c[i:])
		if r == 0 || (r == utf8.RuneError && size == 1) {
			n += 3
		} else {
			n += size
		}
		i += size
	}
	return n
}

func writeEscaped(b *strings.Builder, c []byte) {
	if bytes.IndexByte(c, 0) < 0 && utf8.Valid(c) {
		b.Write(c)
		return
	}
	const hex = "0123456789abcdef"
	start := 0 // c[start:i] is waiting to be copied as is
	for i := 0; i < len(c); {
		if x := c[i]; x != 0 && x < utf8.RuneSelf {
			i++
			continue
		}
		r, size := utf8.DecodeRune(c[i:])
		if r != 0 && (r != utf8.RuneError || size > 1) {
			i += size
			continue
		}
		b.Write(c[start:i])
		b.WriteByte(0)
		b.WriteByte(hex[c[i]>>4])
		b.WriteByte(hex[c[i]&0xf])
		i++
		start = i
	}
	b.Write(c[start:])
}

// ---- loading ----

// LoadMapping reads and validates a mapping file.
func LoadMapping(path string) (*Mapping, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load mapping: %w", err)
	}
	return ParseMapping(data, path)
}

// MappingError is a problem in a mapping file, at a line (0 when none applies).
// Error reads "file:line: message".
type MappingError struct {
	File string
	Line int
	Msg  string
}

func (e *MappingError) Error() string {
	if e.Line <= 0 {
		return e.File + ": " + e.Msg
	}
	return e.File + ":" + strconv.Itoa(e.Line) + ": " + e.Msg
}

// Unwrap returns ErrInvalidMapping.
func (e *MappingError) Unwrap() error { return ErrInvalidMapping }

// ParseMapping validates a mapping file's contents; filename only labels messages.
// It returns the first problem in file order, as a *MappingError.
func ParseMapping(data []byte, filename string) (*Mapping, error) {
	p := &mappingParser{file: filename}
	m, err := p.parse(data)
	if err != nil {
		return nil, err
	}
	return m, nil
}

// mappingParser holds the file name for messages while one file is parsed.
type mappingParser struct{ file string }

func (p *mappingParser) errf(line int, format string, args ...any) error {
	return &MappingError{File: p.file, Line: line, Msg: fmt.Sprintf(format, args...)}
}

// yamlField is one key: value of a YAML mapping, with the key's line.
type yamlField struct {
	line  int
	value *yaml.Node
}

// fields reads a YAML mapping into its fields, rejecting unknown and repeated keys.
// what prefixes messages.
func (p *mappingParser) fields(n *yaml.Node, what string, known []string) (map[string]yamlField, error) {
	out := map[string]yamlField{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], yamlDeref(n.Content[i+1])
		if !slices.Contains(known, k.Value) {
			return nil, p.errf(k.Line, "%sunknown field %q (want %s)", what, k.Value, strings.Join(known, ", "))
		}
		if prev, dup := out[k.Value]; dup {
			return nil, p.errf(k.Line, "%s%s is given twice (first at line %d)", what, k.Value, prev.line)
		}
		out[k.Value] = yamlField{line: k.Line, value: v}
	}
	return out, nil
}

// yamlDeref follows a YAML alias to the node it names.
func yamlDeref(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// str returns a string field: ok is false when the field is absent, null or empty.
func (p *mappingParser) str(fs map[string]yamlField, name, what string) (s string, line int, ok bool, err error) {
	f, found := fs[name]
	if !found {
		return "", 0, false, nil
	}
	v := f.value
	if v.Kind != yaml.ScalarNode {
		hint := ""
		if v.Kind == yaml.MappingNode && v.Style&yaml.FlowStyle != 0 {
			hint = ` (quote it: a YAML value that starts with "{" is a mapping)`
		}
		return "", f.line, false, p.errf(f.line, "%s%s: want a string%s", what, name, hint)
	}
	if v.ShortTag() == "!!null" || v.Value == "" {
		return "", f.line, false, nil
	}
	return v.Value, f.line, true, nil
}

// familyFields lists the fields of a family, for messages and the unknown-field check.
func familyFields() []string {
	return []string{"name", "match", "type", "pk", "sk", "flag", "floor", "read", "numeric"}
}

func (p *mappingParser) parse(data []byte) (*Mapping, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, p.errf(0, "the file is empty: it needs a table and its families")
		}
		return nil, p.errf(0, "%v", err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, p.errf(0, "%v", err)
		}
		return nil, p.errf(extra.Line, "a mapping file holds one YAML document; this is a second")
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = yamlDeref(root.Content[0])
	}
	if root.Kind != yaml.MappingNode {
		return nil, p.errf(root.Line, "want a YAML mapping with table and families")
	}
	top, err := p.fields(root, "", []string{"table", "families"})
	if err != nil {
		return nil, err
	}
	m := &Mapping{byName: map[string]*Family{}}
	table, line, ok, err := p.str(top, "table", "")
	if err != nil {
		return nil, err
	}
	if !ok {
		if line == 0 {
			line = root.Line
		}
		return nil, p.errf(line, "table is required: the DynamoDB table (pk S, sk S) that holds the families")
	}
	if !validTableName(table) {
		return nil, p.errf(line, "table %q: a DynamoDB table name is 3 to 255 letters, digits, '_', '-' or '.'", table)
	}
	m.Table = table

	fam, found := top["families"]
	if !found || fam.value.ShortTag() == "!!null" {
		return m, nil
	}
	if fam.value.Kind != yaml.SequenceNode {
		return nil, p.errf(fam.line, "families: want a list of families")
	}
	for i, n := range fam.value.Content {
		f, err := p.family(yamlDeref(n), i+1)
		if err != nil {
			return nil, err
		}
		if err := p.addFamily(m, f); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func validTableName(s string) bool {
	if len(s) < 3 || len(s) > 255 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

func validFamilyName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return s != ""
}

// family reads and compiles the n-th family (1-based) on its own; addFamily checks
// it against the families before it.
func (p *mappingParser) family(n *yaml.Node, index int) (*Family, error) {
	if n.Kind != yaml.MappingNode {
		return nil, p.errf(n.Line, "family %d: want a mapping of %s", index, strings.Join(familyFields(), ", "))
	}
	f := &Family{Line: n.Line}
	// The name labels every other message, so read it before anything else.
	what := fmt.Sprintf("family %d: ", index)
	if v := yamlMapValue(n, "name"); v != nil && v.Kind == yaml.ScalarNode && v.Value != "" {
		what = fmt.Sprintf("family %q: ", v.Value)
	}
	fs, err := p.fields(n, what, familyFields())
	if err != nil {
		return nil, err
	}
	name, line, ok, err := p.str(fs, "name", what)
	switch {
	case err != nil:
		return nil, err
	case !ok:
		return nil, p.errf(max(line, f.Line), "%sname is required", what)
	case !validFamilyName(name):
		return nil, p.errf(line, "%sname: use lower-case letters, digits, '_' and '-'", what)
	}
	f.Name = name

	match, line, ok, err := p.str(fs, "match", what)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, p.errf(max(line, f.Line), "%smatch is required: the key pattern, e.g. \"user:{id}\"", what)
	}
	f.Match = match
	vars, err := p.compileMatch(f, line, what)
	if err != nil {
		return nil, err
	}

	if err := p.familyType(f, fs, what); err != nil {
		return nil, err
	}
	if err := p.templates(f, fs, vars, what); err != nil {
		return nil, err
	}

	f.Flag = "hotswap." + f.Name + ".stage"
	if flag, line, ok, err := p.str(fs, "flag", what); err != nil {
		return nil, err
	} else if ok {
		if strings.ContainsFunc(flag, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			return nil, p.errf(line, "%sflag %q: a flag key has no spaces or control characters", what, flag)
		}
		f.Flag = flag
	}
	if floor, line, ok, err := p.str(fs, "floor", what); err != nil {
		return nil, err
	} else if ok {
		if f.Floor, err = ParseStage(floor); err != nil {
			return nil, p.errf(line, "%sfloor: %v", what, err)
		}
	}
	if read, line, ok, err := p.str(fs, "read", what); err != nil {
		return nil, err
	} else if ok {
		switch read {
		case "strong":
			f.Read = Strong
		case "eventual":
			f.Read = Eventual
		default:
			return nil, p.errf(line, "%sread %q: want strong or eventual", what, read)
		}
	}
	if err := p.numeric(f, fs, what); err != nil {
		return nil, err
	}
	return f, nil
}

// yamlMapValue returns the value of key in a YAML mapping, or nil.
func yamlMapValue(n *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return yamlDeref(n.Content[i+1])
		}
	}
	return nil
}

// matchVar is a placeholder of a match pattern.
type matchVar struct {
	name string
	rest bool
}

// compileMatch parses f.Match into f.match and returns its placeholders in order.
func (p *mappingParser) compileMatch(f *Family, line int, what string) ([]matchVar, error) {
	elems, err := parsePattern(f.Match)
	if err != nil {
		return nil, p.errf(line, "%smatch %q: %v", what, f.Match, err)
	}
	var vars []matchVar
	for i, e := range elems {
		if e.name == "" {
			continue
		}
		if e.rest && i != len(elems)-1 {
			return nil, p.errf(line, "%smatch %q: {%s...} must end the match", what, f.Match, e.name)
		}
		for _, v := range vars {
			if v.name == e.name {
				return nil, p.errf(line, "%smatch %q: placeholder {%s} is used twice", what, f.Match, e.name)
			}
		}
		vars = append(vars, matchVar{e.name, e.rest})
	}
	f.CatchAll = len(elems) == 1 && elems[0].rest
	f.match = compileMatcher(elems)
	f.matchAtoms = appendAtoms(nil, elems, nil)
	return vars, nil
}

// compileMatcher splits a parsed match at the ':' of its literal text.
func compileMatcher(elems []patternElem) keyMatcher {
	m := keyMatcher{}
	cur := &matchSegment{lits: [][]byte{{}}}
	prefixDone := false
	for _, e := range elems {
		if e.name != "" {
			prefixDone = true
			cur.vars = append(cur.vars, m.nvars)
			m.nvars++
			if e.rest {
				m.rest = true
			} else {
				cur.lits = append(cur.lits, []byte{})
			}
			continue
		}
		if !prefixDone {
			m.prefix += e.lit
		}
		pieces := strings.Split(e.lit, ":")
		cur.lits[len(cur.lits)-1] = append(cur.lits[len(cur.lits)-1], pieces[0]...)
		for _, piece := range pieces[1:] {
			m.segs = append(m.segs, *cur)
			cur = &matchSegment{lits: [][]byte{[]byte(piece)}}
		}
	}
	m.segs = append(m.segs, *cur)
	return m
}

func (p *mappingParser) familyType(f *Family, fs map[string]yamlField, what string) error {
	typ, line, ok, err := p.str(fs, "type", what)
	if err != nil {
		return err
	}
	switch {
	case !ok || typ == "any":
		if !f.CatchAll {
			return p.errf(max(line, f.Line), "%stype is required (string, hash or set): only a catch-all family (match \"{key...}\") takes its type from each key's first write", what)
		}
		f.Kind = KindNone
	case typ == "string":
		f.Kind = KindString
	case typ == "hash":
		f.Kind = KindHash
	case typ == "set":
		f.Kind = KindSet
	default:
		return p.errf(line, "%stype %q: want string, hash or set", what, typ)
	}
	return nil
}

func (p *mappingParser) numeric(f *Family, fs map[string]yamlField, what string) error {
	fd, found := fs["numeric"]
	if !found || fd.value.ShortTag() == "!!null" {
		return nil
	}
	v := fd.value
	switch f.Kind {
	case KindString:
		if v.Kind != yaml.ScalarNode || v.ShortTag() != "!!bool" {
			return p.errf(fd.line, "%snumeric: a string family writes numeric: true (its value is the one number)", what)
		}
		if b, _ := strconv.ParseBool(v.Value); b {
			f.Numeric = map[string]bool{"": true}
		}
	case KindHash:
		if v.Kind != yaml.SequenceNode {
			return p.errf(fd.line, "%snumeric: a hash family lists its numeric fields, e.g. numeric: [age, logins]", what)
		}
		for _, item := range v.Content {
			item = yamlDeref(item)
			if item.Kind != yaml.ScalarNode || item.ShortTag() == "!!null" {
				return p.errf(item.Line, "%snumeric: want field names", what)
			}
			if f.Numeric[item.Value] {
				return p.errf(item.Line, "%snumeric lists field %q twice", what, item.Value)
			}
			if f.Numeric == nil {
				f.Numeric = map[string]bool{}
			}
			f.Numeric[item.Value] = true
		}
	default:
		return p.errf(fd.line, "%snumeric applies to hash and string families", what)
	}
	return nil
}

// templates compiles pk and sk and checks that they identify the key: every
// placeholder of the match appears, and no two different captures render the same
// pk and sk.
func (p *mappingParser) templates(f *Family, fs map[string]yamlField, vars []matchVar, what string) error {
	var lines [2]int
	var elems [2][]patternElem
	for i, name := range [2]string{"pk", "sk"} {
		s, line, ok, err := p.str(fs, name, what)
		if err != nil {
			return err
		}
		if !ok {
			return p.errf(max(line, f.Line), "%s%s is required (DynamoDB keys cannot be empty)", what, name)
		}
		lines[i] = line
		es, err := parsePattern(s)
		if err != nil {
			return p.errf(line, "%s%s %q: %v", what, name, s, err)
		}
		t := keyTemplate{}
		minLen := 0
		for _, e := range es {
			if e.name == "" {
				if strings.IndexByte(e.lit, 0) >= 0 || !utf8.ValidString(e.lit) {
					return p.errf(line, "%s%s %q: the text must be UTF-8 without NUL (NUL marks escaped bytes of a capture)", what, name, s)
				}
				t.parts = append(t.parts, templatePart{lit: e.lit, v: -1})
				t.fixed += len(e.lit)
				minLen += len(e.lit)
				continue
			}
			if e.rest {
				return p.errf(line, "%s%s %q: write {%s}: the \"...\" form belongs in the match only", what, name, s, e.name)
			}
			v := slices.IndexFunc(vars, func(v matchVar) bool { return v.name == e.name })
			if v < 0 {
				return p.errf(line, "%s%s uses {%s}, which match %q does not capture", what, name, e.name, f.Match)
			}
			t.parts = append(t.parts, templatePart{v: v})
			minLen++ // a capture is never empty
		}
		if limit := [2]int{MaxPKLen, MaxSKLen}[i]; minLen > limit {
			return p.errf(line, "%s%s is at least %d bytes for every key, DynamoDB allows %d", what, name, minLen, limit)
		}
		elems[i] = es
		if i == 0 {
			f.PK, f.pk = s, t
		} else {
			f.SK, f.sk = s, t
		}
	}
	for _, v := range vars {
		used := func(e patternElem) bool { return e.name == v.name }
		if !slices.ContainsFunc(elems[0], used) && !slices.ContainsFunc(elems[1], used) {
			return p.errf(f.Line, "%splaceholder {%s} of match %q is in neither pk nor sk, so different keys would share one item", what, v.name, f.Match)
		}
	}
	return p.checkUnambiguous(f, elems, vars, lines, what)
}

// addFamily checks f against the families before it and appends it.
func (p *mappingParser) addFamily(m *Mapping, f *Family) error {
	if prev := m.byName[f.Name]; prev != nil {
		return p.errf(f.Line, "family %q is declared twice (first at line %d)", f.Name, prev.Line)
	}
	if f.CatchAll && m.catchAll != nil {
		return p.errf(f.Line, "family %q: a second catch-all; family %q (line %d) already takes every key no other family matches", f.Name, m.catchAll.Name, m.catchAll.Line)
	}
	for _, g := range m.Families {
		if g.Flag == f.Flag && g.Floor != f.Floor {
			return p.errf(f.Line, "family %q: floor %s differs from floor %s of family %q (line %d), which shares flag %q: families on one flag move together", f.Name, f.Floor, g.Floor, g.Name, g.Line, f.Flag)
		}
		if !f.CatchAll && !g.CatchAll {
			if key, ok := intersectNFA(g.matchAtoms, f.matchAtoms); ok {
				return p.errf(f.Line, "families %q (line %d) and %q can match the same key, e.g. %q: patterns must not overlap (only a catch-all \"{key...}\" may)", g.Name, g.Line, f.Name, spellSymbols(key))
			}
		}
		if text, ok := intersectNFA(g.itemAtoms, f.itemAtoms); ok {
			sep := slices.Index(text, itemSep)
			return p.errf(f.Line, "families %q (line %d) and %q can put different keys in one item, e.g. pk %q, sk %q", g.Name, g.Line, f.Name, spellSymbols(text[:sep]), spellSymbols(text[sep+1:]))
		}
	}
	m.Families = append(m.Families, f)
	m.byName[f.Name] = f
	if f.CatchAll {
		m.catchAll = f
		return nil
	}
	for c := range m.byFirst {
		if f.match.prefix == "" || f.match.prefix[0] == byte(c) {
			m.byFirst[c] = append(m.byFirst[c], f)
		}
	}
	return nil
}

// ---- pattern syntax ----

// patternElem is literal text or a placeholder of a match or template.
type patternElem struct {
	lit  string // literal text, when name is ""
	name string // placeholder name
	rest bool   // {name...}
}

// parsePattern splits a match or template into literal text and placeholders. {{
// and }} are a literal { and }.
func parsePattern(s string) ([]patternElem, error) {
	var elems []patternElem
	var lit strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '{' && i+1 < len(s) && s[i+1] == '{':
			lit.WriteByte('{')
			i++
		case c == '}' && i+1 < len(s) && s[i+1] == '}':
			lit.WriteByte('}')
			i++
		case c == '}':
			return nil, fmt.Errorf("unmatched } (write }} for a literal })")
		case c == '{':
			end := strings.IndexByte(s[i+1:], '}')
			if end < 0 {
				return nil, fmt.Errorf("unclosed { (write {{ for a literal {)")
			}
			body := s[i+1 : i+1+end]
			if strings.IndexByte(body, '{') >= 0 {
				return nil, fmt.Errorf("nested placeholder in %q (write {{ for a literal {)", s[i:i+2+end])
			}
			e := patternElem{name: body}
			if n, ok := strings.CutSuffix(body, "..."); ok {
				e = patternElem{name: n, rest: true}
			}
			if body == "" {
				return nil, fmt.Errorf("empty placeholder {}")
			}
			if !validPlaceholder(e.name) {
				return nil, fmt.Errorf("placeholder name %q: use letters, digits and _", e.name)
			}
			if lit.Len() > 0 {
				elems = append(elems, patternElem{lit: lit.String()})
				lit.Reset()
			} else if len(elems) > 0 {
				prev := elems[len(elems)-1]
				return nil, fmt.Errorf("placeholders {%s} and {%s} need literal text between them", prev.name+restSuffix(prev.rest), e.name+restSuffix(e.rest))
			}
			elems = append(elems, e)
			i += 1 + end
		default:
			lit.WriteByte(c)
		}
	}
	if lit.Len() > 0 {
		elems = append(elems, patternElem{lit: lit.String()})
	}
	return elems, nil
}

func restSuffix(rest bool) string {
	if rest {
		return "..."
	}
	return ""
}

func validPlaceholder(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return s != ""
}

// ---- the checks: patterns as automata ----

// The load-time checks are exact questions about regular languages: do two match
// patterns accept a common key, do two families render a common item, can one pk+sk
// be read as two different captures. Each pattern is a small automaton (literal bytes
// and placeholders that take one or more bytes) and each question a breadth-first
// walk of a product of two automata, which also yields a shortest example for the
// message. Only bytes that appear in some literal, ':' and one other byte need to be
// tried: every other byte behaves like that one.

// itemSep stands between pk and sk when a family's two templates are read as one
// text: it is no byte, so the text splits back into pk and sk in one way only.
const itemSep = 256

// patternAtom is a literal symbol (sym >= 0) or a placeholder (sym < 0) that takes one or
// more symbols: any byte, or any byte but ':' unless rest.
type patternAtom struct {
	sym  int
	rest bool
	name string
}

// patternNFA is a pattern as atoms. Its states: 2i is "before atom i", 2i+1 is "inside
// placeholder atom i, at least one symbol taken"; 2*len is the end. Leaving a
// placeholder is folded into the state inside it, so every path is one parse.
type patternNFA []patternAtom

func (a patternNFA) takes(i, c int) bool {
	return c != itemSep && (a[i].rest || c != ':')
}

// step appends the states reachable from s on symbol c.
func (a patternNFA) step(s, c int, out []int) []int {
	i := s / 2
	if s%2 == 1 {
		if a.takes(i, c) {
			out = append(out, s)
		}
		return a.step(2*(i+1), c, out)
	}
	if i == len(a) {
		return out
	}
	if a[i].sym >= 0 {
		if a[i].sym == c {
			out = append(out, 2*(i+1))
		}
	} else if a.takes(i, c) {
		out = append(out, 2*i+1)
	}
	return out
}

func (a patternNFA) final(s int) bool {
	if s%2 == 1 {
		return a.final(s + 1)
	}
	return s/2 == len(a)
}

// appendAtoms appends the atoms of parsed elems. rest tells which placeholders may
// hold ':' (a template's placeholders are the match's); nil reads elem.rest.
func appendAtoms(a patternNFA, elems []patternElem, rest func(name string) bool) patternNFA {
	for _, e := range elems {
		if e.name != "" {
			r := e.rest
			if rest != nil {
				r = rest(e.name)
			}
			a = append(a, patternAtom{sym: -1, rest: r, name: e.name})
			continue
		}
		for i := 0; i < len(e.lit); i++ {
			a = append(a, patternAtom{sym: int(e.lit[i])})
		}
	}
	return a
}

// symbolsToTry returns the symbols worth trying on automata: a stand-in for the bytes
// no literal names (a readable letter when one is free), ':', then each literal.
func symbolsToTry(as ...patternNFA) []int {
	var seen [itemSep + 1]bool
	for _, a := range as {
		for _, at := range a {
			if at.sym >= 0 {
				seen[at.sym] = true
			}
		}
	}
	var syms []int
	other := -1
	for _, c := range "xyzabcdefghijklmnopqrstuvw0123456789" {
		if !seen[c] {
			other = int(c)
			break
		}
	}
	for c := 0; other < 0 && c < 256; c++ {
		if !seen[c] && c != ':' {
			other = c
		}
	}
	if other >= 0 {
		syms = append(syms, other)
	}
	if !seen[':'] {
		syms = append(syms, ':')
	}
	for c, ok := range seen {
		if ok {
			syms = append(syms, c)
		}
	}
	return syms
}

// spellSymbols turns symbols into text; callers split at itemSep first.
func spellSymbols(syms []int) string {
	b := make([]byte, len(syms))
	for i, c := range syms {
		b[i] = byte(c)
	}
	return string(b)
}

// intersectNFA returns a shortest text both automata accept, if there is one.
func intersectNFA(a, b patternNFA) ([]int, bool) {
	type pair struct{ p, q int }
	type back struct {
		prev pair
		sym  int
	}
	start := pair{0, 0}
	seen := map[pair]back{start: {sym: -1}}
	queue := []pair{start}
	syms := symbolsToTry(a, b)
	var na, nb []int
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		if a.final(cur.p) && b.final(cur.q) {
			var text []int
			for s := cur; s != start; s = seen[s].prev {
				text = append(text, seen[s].sym)
			}
			slices.Reverse(text)
			return text, true
		}
		for _, c := range syms {
			na = a.step(cur.p, c, na[:0])
			if len(na) == 0 {
				continue
			}
			nb = b.step(cur.q, c, nb[:0])
			for _, x := range na {
				for _, y := range nb {
					next := pair{x, y}
					if _, ok := seen[next]; !ok {
						seen[next] = back{cur, c}
						queue = append(queue, next)
					}
				}
			}
		}
	}
	return nil, false
}

// findAmbiguity looks for one text that a reads in two ways. It returns a shortest such
// text and the two paths (the state after each symbol).
func findAmbiguity(a patternNFA) (text []int, path1, path2 []int, found bool) {
	type triple struct {
		p, q  int
		split bool // the two paths have differed
	}
	type back struct {
		prev triple
		sym  int
	}
	start := triple{}
	seen := map[triple]back{start: {sym: -1}}
	queue := []triple{start}
	syms := symbolsToTry(a)
	var np, nq []int
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		if cur.split && a.final(cur.p) && a.final(cur.q) {
			for s := cur; s != start; s = seen[s].prev {
				text = append(text, seen[s].sym)
				path1 = append(path1, s.p)
				path2 = append(path2, s.q)
			}
			slices.Reverse(text)
			slices.Reverse(path1)
			slices.Reverse(path2)
			return text, path1, path2, true
		}
		for _, c := range syms {
			np = a.step(cur.p, c, np[:0])
			if len(np) == 0 {
				continue
			}
			nq = a.step(cur.q, c, nq[:0])
			for _, x := range np {
				for _, y := range nq {
					next := triple{x, y, cur.split || x != y}
					if _, ok := seen[next]; !ok {
						seen[next] = back{cur, c}
						queue = append(queue, next)
					}
				}
			}
		}
	}
	return nil, nil, nil, false
}

// readingOf names what each placeholder takes along one path: {a}="x" {b}="y".
func readingOf(a patternNFA, text, path []int) string {
	vals := map[int][]byte{}
	var order []int
	for k, s := range path {
		if s%2 == 0 {
			continue // a literal took the symbol
		}
		i := s / 2
		if _, ok := vals[i]; !ok {
			order = append(order, i)
		}
		vals[i] = append(vals[i], byte(text[k]))
	}
	parts := make([]string, len(order))
	for k, i := range order {
		parts[k] = fmt.Sprintf("{%s}=%q", a[i].name, vals[i])
	}
	return strings.Join(parts, " ")
}

// checkUnambiguous rejects pk and sk templates that two different captures can
// render the same, such as "{a}#{b}": the same text reads as a="x" b="y#z" and as
// a="x#y" b="z", so two keys would share one item.
func (p *mappingParser) checkUnambiguous(f *Family, elems [2][]patternElem, vars []matchVar, lines [2]int, what string) error {
	rest := func(name string) bool {
		return slices.ContainsFunc(vars, func(v matchVar) bool { return v.name == name && v.rest })
	}
	a := appendAtoms(nil, elems[0], rest)
	a = append(a, patternAtom{sym: itemSep})
	a = appendAtoms(a, elems[1], rest)
	f.itemAtoms = a
	text, p1, p2, found := findAmbiguity(a)
	if !found {
		return nil
	}
	sep := slices.Index(text, itemSep)
	line, name, tmpl, shown := lines[0], "pk", f.PK, text[:sep]
	if slices.Equal(p1[:sep], p2[:sep]) {
		// The two readings agree on pk: sk is the culprit.
		line, name, tmpl, shown = lines[1], "sk", f.SK, text[sep+1:]
	}
	from, to := 0, sep
	if name == "sk" {
		from, to = sep+1, len(text)
	}
	return p.errf(line, "%s%s %q can be read two ways, so two keys would share one item: %s %q is %s or %s; end the template with a placeholder, or follow a one-segment placeholder with text containing ':', which its capture never holds",
		what, name, tmpl, name, spellSymbols(shown), readingOf(a, text[from:to], p1[from:to]), readingOf(a, text[from:to], p2[from:to]))
}
