package command

import (
	"bytes"
	"errors"
	"strings"
)

// Errors GetKeys returns, as COMMAND GETKEYS reports them.
var (
	ErrUnknownCommand   = errors.New("command: invalid command specified")
	ErrNoKeyArguments   = errors.New("command: the command has no key arguments")
	ErrArity            = errors.New("command: invalid number of arguments specified for command")
	ErrInvalidArguments = errors.New("command: invalid arguments specified for command")
)

// keySpecFlag are the key spec flags key extraction depends on.
type keySpecFlag uint8

const (
	ksNotKey        keySpecFlag = 1 << iota // NOT_KEY: not a key (SPUBLISH's shard channel)
	ksIncomplete                            // INCOMPLETE: the spec may miss keys (MIGRATE KEYS)
	ksVariableFlags                         // VARIABLE_FLAGS: flags depend on arguments (SET, BITFIELD)
)

// keyMeta is what key extraction needs beyond Keys, derived once at init.
type keyMeta struct {
	hasKeySpec  bool     // some spec is not NOT_KEY
	hasVarFlags bool     // some spec is VARIABLE_FLAGS
	proc        getKeyFn // Redis' getkeys_proc for the command, or nil
}

// getKeyFn is a Redis getkeys_proc: it appends the key indexes of args to dst.
type getKeyFn func(args [][]byte, dst []int) []int

// getKeysProcs are the commands Redis 7.0 gives a getkeys_proc (src/commands.c). Redis
// calls it when the key specs are invalid or incomplete for the arguments (SORT's keys
// are "unknown", MIGRATE's KEYS spec is INCOMPLETE, EVAL's numkeys may be unparsable) or
// carry VARIABLE_FLAGS (SET, BITFIELD).
var getKeysProcs = map[string]getKeyFn{
	"zunionstore":       zunionInterDiffStoreGetKeys,
	"zinterstore":       zunionInterDiffStoreGetKeys,
	"zdiffstore":        zunionInterDiffStoreGetKeys,
	"zunion":            zunionInterDiffGetKeys,
	"zinter":            zunionInterDiffGetKeys,
	"zdiff":             zunionInterDiffGetKeys,
	"zintercard":        zunionInterDiffGetKeys,
	"sintercard":        sintercardGetKeys,
	"eval":              evalGetKeys,
	"evalsha":           evalGetKeys,
	"eval_ro":           evalGetKeys,
	"evalsha_ro":        evalGetKeys,
	"fcall":             functionGetKeys,
	"fcall_ro":          functionGetKeys,
	"lmpop":             lmpopGetKeys,
	"blmpop":            blmpopGetKeys,
	"zmpop":             zmpopGetKeys,
	"bzmpop":            bzmpopGetKeys,
	"sort":              sortGetKeys,
	"sort_ro":           sortROGetKeys,
	"migrate":           migrateGetKeys,
	"georadius":         georadiusGetKeys,
	"georadiusbymember": georadiusGetKeys,
	"xread":             xreadGetKeys,
	"xreadgroup":        xreadGetKeys,
	"set":               firstArgGetKeys, // setGetKeys: only the flags vary
	"bitfield":          firstArgGetKeys, // bitfieldGetKeys: only the flags vary
}

func newKeyMeta(info *Info) keyMeta {
	var m keyMeta
	for j := range info.Keys {
		spec := &info.Keys[j]
		spec.kflags = 0
		for _, f := range strings.Fields(spec.Flags) {
			switch strings.ToUpper(f) {
			case "NOT_KEY":
				spec.kflags |= ksNotKey
			case "INCOMPLETE":
				spec.kflags |= ksIncomplete
			case "VARIABLE_FLAGS":
				spec.kflags |= ksVariableFlags
			}
		}
		if spec.kflags&ksNotKey == 0 {
			m.hasKeySpec = true
		}
		if spec.kflags&ksVariableFlags != 0 {
			m.hasVarFlags = true
		}
	}
	if !strings.Contains(info.Name, "|") {
		m.proc = getKeysProcs[info.Name]
	}
	return m
}

// HasKeys reports whether the command can have key arguments at all (Redis'
// doesCommandHaveKeys): a getkeys procedure or a key spec that is not NOT_KEY.
func (i *Info) HasKeys() bool { return i.keys.proc != nil || i.keys.hasKeySpec }

// KeyIndexes appends to dst the index in args of every key argument of the command
// (args[0] is the command name, and i must be Lookup(args)), in the order Redis lists them
// (COMMAND GETKEYS): key spec order, which is ascending except that a STORE destination
// found by a fallback procedure comes last. It appends nothing where COMMAND GETKEYS
// replies with an error: wrong arity, no key arguments, or arguments Redis rejects
// (EVAL numkeys larger than the arguments or negative, XREAD without STREAMS, ...).
func (i *Info) KeyIndexes(args [][]byte, dst []int) []int {
	dst, _ = i.GetKeys(args, dst)
	return dst
}

// GetKeys is KeyIndexes with COMMAND GETKEYS' errors: ErrUnknownCommand for a nil i,
// ErrNoKeyArguments, ErrArity and ErrInvalidArguments (no keys found and the command
// needs some). On error it returns dst unchanged.
func (i *Info) GetKeys(args [][]byte, dst []int) ([]int, error) {
	if i == nil {
		return dst, ErrUnknownCommand
	}
	if !i.HasKeys() {
		return dst, ErrNoKeyArguments
	}
	if !i.ArityOK(len(args)) {
		return dst, ErrArity
	}
	n := len(dst)
	dst = i.keysWithSpecs(args, dst)
	if len(dst) == n && !i.Has(NoMandatoryKeys) {
		return dst, ErrInvalidArguments
	}
	return dst, nil
}

// KeyArgs returns the key arguments of args (sharing their memory), as GetKeys finds
// them; it looks the command up itself.
func KeyArgs(args [][]byte) ([][]byte, error) {
	var buf [8]int
	idx, err := Lookup(args).GetKeys(args, buf[:0])
	if err != nil {
		return nil, err
	}
	keys := make([][]byte, len(idx))
	for j, k := range idx {
		keys[j] = args[k]
	}
	return keys, nil
}

// keysWithSpecs is Redis' getKeysFromCommandWithSpecs (src/db.c): the key specs when
// there are reliable ones, and the getkeys procedure when they fail or are unreliable.
func (i *Info) keysWithSpecs(args [][]byte, dst []int) []int {
	if i.keys.hasKeySpec && !i.keys.hasVarFlags {
		if out, ok := i.keysUsingKeySpecs(args, dst); ok {
			return out
		}
	}
	if i.keys.proc != nil {
		return i.keys.proc(args, dst)
	}
	return dst
}

// keysUsingKeySpecs is Redis' getKeysUsingKeySpecs (src/db.c) with GET_KEYSPEC_DEFAULT.
// ok is false where Redis returns -1: an unknown, invalid or incomplete spec.
func (i *Info) keysUsingKeySpecs(args [][]byte, dst []int) (out []int, ok bool) {
	argc := len(args)
	n := len(dst)
	for j := range i.Keys {
		spec := &i.Keys[j]
		if spec.kflags&ksNotKey != 0 {
			continue
		}
		first := 0
		switch spec.Begin {
		case BeginIndex:
			first = spec.Index
		case BeginKeyword:
			start, end := argc+spec.StartFrom, 1
			if spec.StartFrom > 0 {
				start, end = spec.StartFrom, argc-1
			}
			// The end index is excluded, as in Redis: searching forwards never looks at
			// the last argument (a keyword there could not be followed by a key).
			for k := start; k != end; {
				if k >= argc || k < 1 {
					break
				}
				if cstrEqualFold(args[k], spec.Keyword) {
					first = k + 1
					break
				}
				if start <= end {
					k++
				} else {
					k--
				}
			}
			if first == 0 {
				continue // keyword not found: this spec has no keys
			}
		default:
			return dst[:n], false
		}

		var last, step int
		switch spec.Find {
		case FindRange:
			step = spec.KeyStep
			switch {
			case spec.LastKey >= 0:
				last = first + spec.LastKey
			case spec.Limit == 0:
				last = argc + spec.LastKey
			default:
				last = first + ((argc-first)/spec.Limit + spec.LastKey)
			}
		case FindKeyNum:
			step = spec.KeyStep
			// Redis checks only keynumidx < argc before reading argv[first+keynumidx];
			// the arity of every 7.0 command keeps that in bounds.
			idx := first + spec.KeyNumIdx
			if spec.KeyNumIdx >= argc || idx >= argc || idx < 0 {
				return dst[:n], false
			}
			numkeys, ok := ParseInt(args[idx])
			if !ok || numkeys < 0 {
				return dst[:n], false
			}
			first += spec.FirstKey
			// Redis adds (int)numkeys: a count beyond 32 bits wraps as it does there.
			last = first + int(int32(numkeys)) - 1
		default:
			return dst[:n], false
		}

		if last >= argc || last < first || first >= argc || step < 1 {
			return dst[:n], false
		}
		for k := first; k <= last; k += step {
			dst = append(dst, k)
		}
		if spec.kflags&ksIncomplete != 0 {
			return dst[:n], false
		}
	}
	return dst, true
}

// genericGetKeys is Redis' helper for COMMAND [destkey] numkeys key [key ...] ...:
// storeOfs is the destination's index (0: none), countOfs numkeys' index, firstOfs the
// first key's. numkeys is read with C's atoi, unlike the key specs' strict parse.
func genericGetKeys(storeOfs, countOfs, firstOfs, step int, args [][]byte, dst []int) []int {
	if countOfs >= len(args) {
		return dst
	}
	num := atoi(args[countOfs])
	if num < 1 || num > (len(args)-firstOfs)/step {
		return dst
	}
	for k := 0; k < num; k++ {
		dst = append(dst, firstOfs+k*step)
	}
	if storeOfs != 0 {
		dst = append(dst, storeOfs)
	}
	return dst
}

func sintercardGetKeys(args [][]byte, dst []int) []int {
	return genericGetKeys(0, 1, 2, 1, args, dst)
}

func zunionInterDiffStoreGetKeys(args [][]byte, dst []int) []int {
	return genericGetKeys(1, 2, 3, 1, args, dst)
}

func zunionInterDiffGetKeys(args [][]byte, dst []int) []int {
	return genericGetKeys(0, 1, 2, 1, args, dst)
}

func evalGetKeys(args [][]byte, dst []int) []int { return genericGetKeys(0, 2, 3, 1, args, dst) }

func functionGetKeys(args [][]byte, dst []int) []int {
	return genericGetKeys(0, 2, 3, 1, args, dst)
}

func lmpopGetKeys(args [][]byte, dst []int) []int  { return genericGetKeys(0, 1, 2, 1, args, dst) }
func blmpopGetKeys(args [][]byte, dst []int) []int { return genericGetKeys(0, 2, 3, 1, args, dst) }
func zmpopGetKeys(args [][]byte, dst []int) []int  { return genericGetKeys(0, 1, 2, 1, args, dst) }
func bzmpopGetKeys(args [][]byte, dst []int) []int { return genericGetKeys(0, 2, 3, 1, args, dst) }

// firstArgGetKeys is setGetKeys and bitfieldGetKeys: the key is always args[1].
func firstArgGetKeys(args [][]byte, dst []int) []int { return append(dst, 1) }

// sortROGetKeys: SORT_RO's key is always args[1] (BY and GET patterns are not keys of
// the command line).
func sortROGetKeys(args [][]byte, dst []int) []int { return append(dst, 1) }

// sortGetKeys is Redis' sortGetKeys: args[1], then the last STORE destination. It skips
// the arguments of LIMIT (2), GET and BY (1), and after STORE goes on with the argument
// that follows it, exactly as Redis does.
func sortGetKeys(args [][]byte, dst []int) []int {
	dst = append(dst, 1)
	store := 0
	for k := 2; k < len(args); k++ {
		switch a := args[k]; {
		case cstrEqualFold(a, "limit"):
			k += 2
		case cstrEqualFold(a, "store") && k+1 < len(args):
			store = k + 1
		case cstrEqualFold(a, "get"), cstrEqualFold(a, "by"):
			k++
		}
	}
	if store != 0 {
		dst = append(dst, store)
	}
	return dst
}

// migrateGetKeys is Redis' migrateGetKeys: args[3], or, with a KEYS option after the
// timeout, every argument after KEYS, provided args[3] is empty (no keys if it is not: a
// syntax error MIGRATE reports). COPY and REPLACE are skipped, and so are AUTH's password
// and AUTH2's user and password, which may well be "keys".
func migrateGetKeys(args [][]byte, dst []int) []int {
	first, num := 3, 1
	if len(args) > 6 {
		for k := 6; k < len(args); k++ {
			a := args[k]
			if cstrEqualFold(a, "keys") {
				if len(args[3]) > 0 {
					num = 0
				} else {
					first = k + 1
					num = len(args) - first
				}
				break
			}
			switch {
			case cstrEqualFold(a, "auth"):
				k++
			case cstrEqualFold(a, "auth2"):
				k += 2
			}
		}
	}
	for k := 0; k < num; k++ {
		dst = append(dst, first+k)
	}
	return dst
}

// georadiusGetKeys is Redis' georadiusGetKeys: args[1], then the destination of the last
// STORE or STOREDIST.
func georadiusGetKeys(args [][]byte, dst []int) []int {
	stored := -1
	for k := 5; k < len(args); k++ {
		if (cstrEqualFold(args[k], "store") || cstrEqualFold(args[k], "storedist")) && k+1 < len(args) {
			stored = k + 1
			k++
		}
	}
	dst = append(dst, 1)
	if stored != -1 {
		dst = append(dst, stored)
	}
	return dst
}

// xreadGetKeys is Redis' xreadGetKeys: the first half of the arguments after the
// STREAMS option (the rest are IDs), after skipping BLOCK, COUNT, GROUP and NOACK.
func xreadGetKeys(args [][]byte, dst []int) []int {
	argc := len(args)
	streams := -1
	for k := 1; k < argc; k++ {
		a := args[k]
		if cstrEqualFold(a, "block") || cstrEqualFold(a, "count") {
			k++
		} else if cstrEqualFold(a, "group") {
			k += 2
		} else if cstrEqualFold(a, "noack") {
		} else if cstrEqualFold(a, "streams") {
			streams = k
			break
		} else {
			break
		}
	}
	if streams == -1 {
		return dst
	}
	num := argc - streams - 1
	if num == 0 || num%2 != 0 {
		return dst
	}
	num /= 2
	for k := streams + 1; k < argc-num; k++ {
		dst = append(dst, k)
	}
	return dst
}

// cstrEqualFold is Redis' strcasecmp(arg, lit) == 0 for an ASCII literal: arg is a C
// string there, so it ends at its first NUL byte.
func cstrEqualFold(arg []byte, lit string) bool {
	if k := bytes.IndexByte(arg, 0); k >= 0 {
		arg = arg[:k]
	}
	if len(arg) != len(lit) {
		return false
	}
	for k := 0; k < len(arg); k++ {
		a, b := arg[k], lit[k]
		if 'A' <= a && a <= 'Z' {
			a += 'a' - 'A'
		}
		if 'A' <= b && b <= 'Z' {
			b += 'a' - 'A'
		}
		if a != b {
			return false
		}
	}
	return true
}

// ParseInt is Redis' strict integer parse (string2ll in src/util.c): an optional '-',
// no leading zeros, no spaces or '+', at most 20 bytes, within int64. Arguments Redis
// reads as integers (SELECT's index, HELLO's version) must be read with it.
func ParseInt(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) >= 21 {
		return 0, false
	}
	if len(b) == 1 && b[0] == '0' {
		return 0, true
	}
	neg := false
	if b[0] == '-' {
		neg = true
		b = b[1:]
		if len(b) == 0 {
			return 0, false
		}
	}
	if b[0] < '1' || b[0] > '9' {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		if v > (1<<64-1)/10 {
			return 0, false
		}
		v *= 10
		if v > 1<<64-1-uint64(c-'0') {
			return 0, false
		}
		v += uint64(c - '0')
	}
	if neg {
		if v > 1<<63 {
			return 0, false
		}
		return -int64(v), true
	}
	if v > 1<<63-1 {
		return 0, false
	}
	return int64(v), true
}

// atoi is glibc's atoi, (int)strtol(s, NULL, 10), over a C string: leading white space,
// an optional sign, digits; overflow clamps to the int64 range, then the result is
// truncated to 32 bits.
func atoi(b []byte) int {
	k := 0
	for k < len(b) && (b[k] == ' ' || (b[k] >= '\t' && b[k] <= '\r')) {
		k++
	}
	neg := false
	if k < len(b) && (b[k] == '+' || b[k] == '-') {
		neg = b[k] == '-'
		k++
	}
	limit := uint64(1<<63 - 1)
	if neg {
		limit = 1 << 63
	}
	var v uint64
	for ; k < len(b) && b[k] >= '0' && b[k] <= '9'; k++ {
		d := uint64(b[k] - '0')
		if v > (limit-d)/10 {
			v = limit
			for k < len(b) && b[k] >= '0' && b[k] <= '9' {
				k++
			}
			break
		}
		v = v*10 + d
	}
	var r int64
	if neg {
		r = int64(-v) // -(1<<63) wraps to itself, as LONG_MIN
	} else {
		r = int64(v)
	}
	return int(int32(r))
}
