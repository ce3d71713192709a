// Package command is hotswap's command table: for every Redis command, its arity,
// flags, key positions (Redis 7 key specs, so EVAL/FCALL numkeys and XREAD STREAMS are
// located exactly as Redis locates them) and how to merge the replies of a command split
// across stores. The table is generated from a real redis-server's COMMAND INFO and
// COMMAND DOCS (see gen/), and a test checks it against the redis-server on the machine,
// so routing never guesses where the keys are.
//
// Regenerate the table (table_gen.go) against a running redis-server with
//
//	go run ./proxy/command/gen -addr 127.0.0.1:PORT -out proxy/command/table_gen.go
//
// or `go generate ./proxy/command` with HOTSWAP_REDIS_ADDR=host:port set.
//
// Key extraction (Info.KeyIndexes, Info.GetKeys) reproduces redis-server 7.0's
// getKeysFromCommandWithSpecs, which COMMAND GETKEYS and cluster routing use: the key
// specs first, and when they are invalid or incomplete, the command's getkeys procedure
// (SORT, MIGRATE, EVAL, XREAD, ...), quirks included: a numkeys argument that the key specs
// reject ("2abc", "02", " 2") but C's atoi accepts still yields keys, as it does in Redis
// (the command itself then fails with an error), and keywords match with C string
// semantics (an argument is compared up to its first NUL byte). The tests compare it with
// the live server's COMMAND GETKEYS.
//
// Where it differs from Redis:
//   - Lookup returns the container's Info (CONFIG, OBJECT, ...) for an unknown subcommand,
//     where Redis' lookup returns no command; the container has no keys, so key
//     extraction agrees (no keys).
//   - Command names are matched case-insensitively in ASCII over all their bytes; Redis
//     would also match a name followed by a NUL byte and junk in rare hash collisions.
//   - A keynum spec whose numkeys argument lies past the end of the arguments is invalid
//     here; Redis reads past argv (no 7.0 command can get there, thanks to its arity).
package command

import (
	"strconv"
	"strings"
)

//go:generate go run ./gen -out table_gen.go

// Flag is a command flag as COMMAND INFO reports it.
type Flag uint32

// Command flags (COMMAND INFO's second element).
const (
	Write Flag = 1 << iota
	ReadOnly
	DenyOOM
	Module
	Admin
	PubSub
	NoScript
	Blocking
	Loading
	Stale
	SkipMonitor
	SkipSlowlog
	Fast
	NoAuth
	MayReplicate
	Sentinel
	OnlySentinel
	NoMandatoryKeys
	Protected
	NoAsyncLoading
	NoMulti
	MovableKeys
	AllowBusy
	Asking
)

// flagNames are the COMMAND INFO names of the flags, by bit position.
var flagNames = [...]string{
	"write", "readonly", "denyoom", "module", "admin", "pubsub", "noscript", "blocking",
	"loading", "stale", "skip_monitor", "skip_slowlog", "fast", "no_auth", "may_replicate",
	"sentinel", "only_sentinel", "no_mandatory_keys", "protected", "no_async_loading",
	"no_multi", "movablekeys", "allow_busy", "asking",
}

// ParseFlag returns the flag COMMAND INFO calls name ("readonly", "no_auth", ...).
func ParseFlag(name string) (Flag, bool) {
	for i, n := range flagNames {
		if n == name {
			return 1 << i, true
		}
	}
	return 0, false
}

// String returns the flags' COMMAND INFO names, space separated.
func (f Flag) String() string {
	var b []byte
	for i, n := range flagNames {
		if f&(1<<i) != 0 {
			if len(b) > 0 {
				b = append(b, ' ')
			}
			b = append(b, n...)
		}
	}
	if rest := f &^ (1<<len(flagNames) - 1); rest != 0 {
		if len(b) > 0 {
			b = append(b, ' ')
		}
		b = append(b, "0x"...)
		b = strconv.AppendUint(b, uint64(rest), 16)
	}
	return string(b)
}

// BeginKind says how a key spec finds the first key.
type BeginKind uint8

const (
	BeginUnknown BeginKind = iota
	BeginIndex             // a fixed argument index
	BeginKeyword           // the argument after a keyword, searched from StartFrom
)

// FindKind says how a key spec finds the keys after the first.
type FindKind uint8

const (
	FindUnknown FindKind = iota
	FindRange            // LastKey, KeyStep, Limit
	FindKeyNum           // the key count is an argument (EVAL numkeys)
)

// KeySpec is one Redis 7 key specification.
type KeySpec struct {
	// Flags are COMMAND INFO's key spec flags, upper-cased and space separated, e.g.
	// "RW ACCESS DELETE", "RO ACCESS", "OW UPDATE", "NOT_KEY", "INCOMPLETE".
	Flags string

	Begin     BeginKind
	Index     int    // BeginIndex: argument index of the first key
	Keyword   string // BeginKeyword: the keyword (upper case)
	StartFrom int    // BeginKeyword: where to start searching (negative: from the end)

	Find      FindKind
	LastKey   int // FindRange: last key relative to the first (-1: last argument)
	KeyStep   int // FindRange and FindKeyNum: step between keys
	Limit     int // FindRange: with LastKey -1, take 1/Limit of the remaining args
	KeyNumIdx int // FindKeyNum: index of the key count, relative to the begin position
	FirstKey  int // FindKeyNum: first key, relative to the begin position

	kflags keySpecFlag // Flags parsed once at init: NOT_KEY, INCOMPLETE, VARIABLE_FLAGS
}

// HasFlag reports whether the spec has flag name (case-insensitive, e.g. "access").
func (k *KeySpec) HasFlag(name string) bool {
	for _, f := range strings.Fields(k.Flags) {
		if strings.EqualFold(f, name) {
			return true
		}
	}
	return false
}

// Merge says how to combine the replies of a command split into per-key parts,
// from the command's cluster tips: the response policy decides (response_policy:agg_sum is
// MergeSum, whatever the request policy, so DBSIZE is MergeSum too); without one,
// request_policy:multi_shard (MGET) is MergeJoin, request_policy:special (SCAN) is
// MergeSpecial, and anything else is MergeNone.
type Merge uint8

const (
	MergeNone    Merge = iota // the command cannot be split
	MergeJoin                 // arrays concatenated in the original key order (MGET)
	MergeSum                  // integers added (DEL, EXISTS, UNLINK, TOUCH): agg_sum
	MergeAllOK                // +OK only if every part succeeded (MSET): all_succeeded
	MergeOneOK                // +OK if any part succeeded: one_succeeded
	MergeMin                  // agg_min
	MergeMax                  // agg_max
	MergeAnd                  // agg_logical_and
	MergeOr                   // agg_logical_or
	MergeSpecial              // needs command-specific code
)

// Info describes one command or subcommand.
type Info struct {
	Name        string // lower case; subcommands are "parent|sub"
	Arity       int    // Redis arity: N > 0 exactly N args (name included), -N at least N
	Flags       Flag
	FirstKey    int // legacy key positions from COMMAND INFO
	LastKey     int
	Step        int
	Keys        []KeySpec
	Merge       Merge
	Subcommands map[string]*Info // keyed by lower-case subcommand name; nil: not a container

	Categories []string // ACL categories, e.g. "@read", "@string", "@fast"
	Tips       []string // command tips, e.g. "nondeterministic_output_order", "request_policy:multi_shard"
	Group      string   // COMMAND DOCS group, e.g. "string", "hash", "generic", "server"
	Summary    string   // COMMAND DOCS summary

	keys keyMeta // derived from Keys and Name at init (keys.go)
	id   int     // 1..Count(), by name order; 0 for an Info not from the table
}

// ID is the command's index in the table, 1..Count() in name order (0 for an Info
// built outside the table): a dense key for per-command counters (package observe).
func (i *Info) ID() int { return i.id }

// Has reports whether every flag in f is set.
func (i *Info) Has(f Flag) bool { return i.Flags&f == f }
