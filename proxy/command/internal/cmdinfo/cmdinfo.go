// Package cmdinfo reads a live redis-server's command metadata (COMMAND INFO, COMMAND
// DOCS, INFO server) over a minimal RESP2 client. The table generator (../../gen) and the
// command package's tests share it, so the generated table and the check against the live
// server parse the replies the same way.
package cmdinfo

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Error is an error reply from the server (the text after '-').
type Error string

func (e Error) Error() string { return string(e) }

// Conn is a RESP2 connection. It is not safe for concurrent use.
type Conn struct {
	nc      net.Conn
	r       *bufio.Reader
	w       *bufio.Writer
	timeout time.Duration
}

// Dial connects to addr (host:port). Every Do must complete within timeout (0: none).
func Dial(addr string, timeout time.Duration) (*Conn, error) {
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, fmt.Errorf("cmdinfo: dial %s: %w", addr, err)
	}
	return &Conn{nc: nc, r: bufio.NewReader(nc), w: bufio.NewWriter(nc), timeout: timeout}, nil
}

// Close closes the connection.
func (c *Conn) Close() error { return c.nc.Close() }

// Do sends one command and reads its reply: string (simple or bulk), int64, []any or nil.
// A server error reply is returned as an Error; the connection stays usable.
func (c *Conn) Do(args ...string) (any, error) {
	b := make([][]byte, len(args))
	for i, a := range args {
		b[i] = []byte(a)
	}
	return c.DoBytes(b)
}

// DoBytes is Do with binary arguments.
func (c *Conn) DoBytes(args [][]byte) (any, error) {
	if c.timeout > 0 {
		_ = c.nc.SetDeadline(time.Now().Add(c.timeout))
	}
	fmt.Fprintf(c.w, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(c.w, "$%d\r\n", len(a))
		c.w.Write(a)
		c.w.WriteString("\r\n")
	}
	if err := c.w.Flush(); err != nil {
		return nil, fmt.Errorf("cmdinfo: write: %w", err)
	}
	v, err := c.read()
	if err != nil {
		return nil, err
	}
	if e, ok := v.(Error); ok {
		return nil, e
	}
	return v, nil
}

func (c *Conn) read() (any, error) {
	line, err := c.r.ReadString('\n')
	if err != nil {
		return nil, fmt.Errorf("cmdinfo: read: %w", err)
	}
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return nil, fmt.Errorf("cmdinfo: malformed reply line %q", line)
	}
	kind, rest := line[0], line[1:len(line)-2]
	switch kind {
	case '+':
		return rest, nil
	case '-':
		return Error(rest), nil
	case ':':
		n, err := strconv.ParseInt(rest, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("cmdinfo: bad integer reply %q", rest)
		}
		return n, nil
	case '$':
		n, err := strconv.Atoi(rest)
		if err != nil {
			return nil, fmt.Errorf("cmdinfo: bad bulk length %q", rest)
		}
		if n < 0 {
			return nil, nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(c.r, buf); err != nil {
			return nil, fmt.Errorf("cmdinfo: read bulk: %w", err)
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(rest)
		if err != nil {
			return nil, fmt.Errorf("cmdinfo: bad array length %q", rest)
		}
		if n < 0 {
			return nil, nil
		}
		arr := make([]any, n)
		for i := range arr {
			// An error inside an array is kept as an Error value.
			if arr[i], err = c.read(); err != nil {
				return nil, err
			}
		}
		return arr, nil
	}
	return nil, fmt.Errorf("cmdinfo: unknown reply type %q", line)
}

// Command is one entry of COMMAND INFO, plus its COMMAND DOCS group and summary.
type Command struct {
	Name        string // lower case; subcommands "parent|sub"
	Arity       int
	Flags       []string // as reported: "write", "readonly", "movablekeys", ...
	FirstKey    int
	LastKey     int
	Step        int
	Categories  []string // ACL categories: "@read", ...
	Tips        []string // "nondeterministic_output", "request_policy:multi_shard", ...
	KeySpecs    []KeySpec
	Subcommands []*Command // sorted by name
	Group       string     // COMMAND DOCS group ("string", "generic", ...)
	Summary     string     // COMMAND DOCS summary
}

// KeySpec is one key specification as COMMAND INFO reports it.
type KeySpec struct {
	Flags     []string // "RW", "access", "delete", ...
	BeginType string   // "index", "keyword", "unknown"
	Index     int
	Keyword   string
	StartFrom int
	FindType  string // "range", "keynum", "unknown"
	LastKey   int
	KeyStep   int
	Limit     int
	KeyNumIdx int
	FirstKey  int
}

// Fetch reads COMMAND INFO and COMMAND DOCS and returns every command, sorted by name.
func Fetch(c *Conn) ([]*Command, error) {
	v, err := c.Do("COMMAND", "INFO")
	if err != nil {
		return nil, fmt.Errorf("cmdinfo: COMMAND INFO: %w", err)
	}
	arr, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("cmdinfo: COMMAND INFO: unexpected reply %T", v)
	}
	var cmds []*Command
	for _, e := range arr {
		if e == nil { // a name COMMAND INFO does not know
			continue
		}
		cmd, err := parseCommand(e)
		if err != nil {
			return nil, err
		}
		cmds = append(cmds, cmd)
	}
	sortCommands(cmds)

	docs, err := c.Do("COMMAND", "DOCS")
	if err != nil {
		return nil, fmt.Errorf("cmdinfo: COMMAND DOCS: %w", err)
	}
	if err := applyDocs(cmds, docs); err != nil {
		return nil, err
	}
	return cmds, nil
}

// Version returns redis_version from INFO server.
func Version(c *Conn) (string, error) {
	v, err := c.Do("INFO", "server")
	if err != nil {
		return "", fmt.Errorf("cmdinfo: INFO server: %w", err)
	}
	s, _ := v.(string)
	for _, line := range strings.Split(s, "\n") {
		if after, ok := strings.CutPrefix(strings.TrimSpace(line), "redis_version:"); ok {
			return after, nil
		}
	}
	return "", errors.New("cmdinfo: INFO server has no redis_version")
}

func sortCommands(cmds []*Command) {
	sort.Slice(cmds, func(i, j int) bool { return cmds[i].Name < cmds[j].Name })
}

func parseCommand(e any) (*Command, error) {
	a, ok := e.([]any)
	if !ok || len(a) < 10 {
		return nil, fmt.Errorf("cmdinfo: COMMAND INFO entry: want an array of at least 10 elements, got %v", e)
	}
	name, ok := a[0].(string)
	if !ok {
		return nil, fmt.Errorf("cmdinfo: command name: got %T", a[0])
	}
	cmd := &Command{Name: strings.ToLower(name)}
	var err error
	wrap := func(field string, e error) error {
		return fmt.Errorf("cmdinfo: %s: %s: %w", cmd.Name, field, e)
	}
	if cmd.Arity, err = toInt(a[1]); err != nil {
		return nil, wrap("arity", err)
	}
	if cmd.Flags, err = toStrings(a[2]); err != nil {
		return nil, wrap("flags", err)
	}
	if cmd.FirstKey, err = toInt(a[3]); err != nil {
		return nil, wrap("first key", err)
	}
	if cmd.LastKey, err = toInt(a[4]); err != nil {
		return nil, wrap("last key", err)
	}
	if cmd.Step, err = toInt(a[5]); err != nil {
		return nil, wrap("step", err)
	}
	if cmd.Categories, err = toStrings(a[6]); err != nil {
		return nil, wrap("categories", err)
	}
	if cmd.Tips, err = toStrings(a[7]); err != nil {
		return nil, wrap("tips", err)
	}
	specs, ok := a[8].([]any)
	if !ok {
		return nil, wrap("key specs", fmt.Errorf("got %T", a[8]))
	}
	for _, s := range specs {
		ks, err := parseKeySpec(s)
		if err != nil {
			return nil, wrap("key spec", err)
		}
		cmd.KeySpecs = append(cmd.KeySpecs, ks)
	}
	subs, ok := a[9].([]any)
	if !ok {
		return nil, wrap("subcommands", fmt.Errorf("got %T", a[9]))
	}
	for _, s := range subs {
		sub, err := parseCommand(s)
		if err != nil {
			return nil, err
		}
		cmd.Subcommands = append(cmd.Subcommands, sub)
	}
	sortCommands(cmd.Subcommands)
	return cmd, nil
}

func parseKeySpec(v any) (KeySpec, error) {
	var ks KeySpec
	m, err := toMap(v)
	if err != nil {
		return ks, err
	}
	if ks.Flags, err = toStrings(m["flags"]); err != nil {
		return ks, fmt.Errorf("flags: %w", err)
	}
	bs, err := toMap(m["begin_search"])
	if err != nil {
		return ks, fmt.Errorf("begin_search: %w", err)
	}
	ks.BeginType, _ = bs["type"].(string)
	bspec, err := toMap(bs["spec"])
	if err != nil {
		return ks, fmt.Errorf("begin_search spec: %w", err)
	}
	switch ks.BeginType {
	case "index":
		ks.Index, err = toInt(bspec["index"])
	case "keyword":
		ks.Keyword, _ = bspec["keyword"].(string)
		ks.StartFrom, err = toInt(bspec["startfrom"])
	case "unknown":
	default:
		err = fmt.Errorf("unknown begin_search type %q", ks.BeginType)
	}
	if err != nil {
		return ks, fmt.Errorf("begin_search: %w", err)
	}
	fk, err := toMap(m["find_keys"])
	if err != nil {
		return ks, fmt.Errorf("find_keys: %w", err)
	}
	ks.FindType, _ = fk["type"].(string)
	fspec, err := toMap(fk["spec"])
	if err != nil {
		return ks, fmt.Errorf("find_keys spec: %w", err)
	}
	switch ks.FindType {
	case "range":
		if ks.LastKey, err = toInt(fspec["lastkey"]); err == nil {
			if ks.KeyStep, err = toInt(fspec["keystep"]); err == nil {
				ks.Limit, err = toInt(fspec["limit"])
			}
		}
	case "keynum":
		if ks.KeyNumIdx, err = toInt(fspec["keynumidx"]); err == nil {
			if ks.FirstKey, err = toInt(fspec["firstkey"]); err == nil {
				ks.KeyStep, err = toInt(fspec["keystep"])
			}
		}
	case "unknown":
	default:
		err = fmt.Errorf("unknown find_keys type %q", ks.FindType)
	}
	if err != nil {
		return ks, fmt.Errorf("find_keys: %w", err)
	}
	return ks, nil
}

// applyDocs copies group and summary from COMMAND DOCS (a flat name/doc array in RESP2).
func applyDocs(cmds []*Command, v any) error {
	docs, err := toMap(v)
	if err != nil {
		return fmt.Errorf("cmdinfo: COMMAND DOCS: %w", err)
	}
	for _, cmd := range cmds {
		d, err := toMap(docs[cmd.Name])
		if err != nil {
			continue // commands without docs (none in 7.0) keep empty fields
		}
		cmd.Group, _ = d["group"].(string)
		cmd.Summary, _ = d["summary"].(string)
		if len(cmd.Subcommands) > 0 && d["subcommands"] != nil {
			if err := applyDocs(cmd.Subcommands, d["subcommands"]); err != nil {
				return err
			}
		}
	}
	return nil
}

func toInt(v any) (int, error) {
	n, ok := v.(int64)
	if !ok {
		return 0, fmt.Errorf("want an integer, got %T", v)
	}
	return int(n), nil
}

func toStrings(v any) ([]string, error) {
	if v == nil {
		return nil, nil
	}
	a, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("want an array, got %T", v)
	}
	var out []string
	for _, e := range a {
		s, ok := e.(string)
		if !ok {
			return nil, fmt.Errorf("want a string, got %T", e)
		}
		out = append(out, s)
	}
	return out, nil
}

// toMap turns a flat [k1, v1, k2, v2, ...] array into a map; an empty array is an empty map.
func toMap(v any) (map[string]any, error) {
	a, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("want a key/value array, got %T", v)
	}
	if len(a)%2 != 0 {
		return nil, fmt.Errorf("key/value array of odd length %d", len(a))
	}
	m := make(map[string]any, len(a)/2)
	for i := 0; i < len(a); i += 2 {
		k, ok := a[i].(string)
		if !ok {
			return nil, fmt.Errorf("key %d: want a string, got %T", i/2, a[i])
		}
		m[k] = a[i+1]
	}
	return m, nil
}

// Merge returns the name of the command.Merge constant the cluster tips call for:
// the response policy decides (agg_sum: MergeSum, all_succeeded: MergeAllOK, ...);
// without one, request_policy:multi_shard (MGET) is MergeJoin, request_policy:special
// (SCAN) is MergeSpecial, and anything else is MergeNone.
func Merge(tips []string) string {
	var req, resp string
	for _, t := range tips {
		if v, ok := strings.CutPrefix(t, "request_policy:"); ok {
			req = v
		}
		if v, ok := strings.CutPrefix(t, "response_policy:"); ok {
			resp = v
		}
	}
	switch resp {
	case "agg_sum":
		return "MergeSum"
	case "all_succeeded":
		return "MergeAllOK"
	case "one_succeeded":
		return "MergeOneOK"
	case "agg_min":
		return "MergeMin"
	case "agg_max":
		return "MergeMax"
	case "agg_logical_and":
		return "MergeAnd"
	case "agg_logical_or":
		return "MergeOr"
	case "special":
		return "MergeSpecial"
	}
	switch req {
	case "multi_shard":
		return "MergeJoin"
	case "special":
		return "MergeSpecial"
	}
	return "MergeNone"
}
