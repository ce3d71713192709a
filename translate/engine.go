package translate

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"hotswap/proxy/command"
)

// Defaults of Options.
const (
	DefaultTimeout      = 5 * time.Second
	DefaultTombstoneTTL = 7 * 24 * time.Hour
	DefaultMaxAttempts  = 16
	maxTransactItems    = 100
	maxBatchGet         = 100
)

// Options configure an Engine.
type Options struct {
	Mapping *Mapping
	// DB serves strong reads and every write. Eventual serves the reads of families
	// that read `eventual` (DAX when configured); nil means DB.
	DB, Eventual Store
	Logger       *slog.Logger
	// Timeout bounds one command's DynamoDB calls (default DefaultTimeout).
	Timeout time.Duration
	// TombstoneTTL is how long a deleted key's tombstone lives (default DefaultTombstoneTTL).
	TombstoneTTL time.Duration
	// MaxAttempts bounds the re-runs of a command whose conditional write lost a race
	// with another writer (default DefaultMaxAttempts).
	MaxAttempts int
	// Now is the clock (default time.Now); tests move it.
	Now func() time.Time
	// NoFastPath runs every write on the general path (read, then conditional
	// PutItem); tests use it to check both paths give the same replies.
	NoFastPath bool
	// Calls, when set, is told of every DynamoDB and DAX call with its latency.
	Calls CallObserver
}

// Engine runs Redis commands on keys that live in DynamoDB: it loads the keys a command
// names, runs the command's handler over them in memory, and writes what changed with
// conditions on the versions it read, re-running the command if another writer got
// there first. Replies are Redis', byte for byte.
type Engine struct {
	m            *Mapping
	db, eventual Store
	log          *slog.Logger
	timeout      time.Duration
	tombTTL      time.Duration
	attempts     int
	now          func() time.Time
	handlers     map[string]Handler
	table        *string
	noFastPath   bool

	// noTransactions is set once the store answered that it does not implement
	// TransactWriteItems (dynalite): multi-key writes then go one key at a time.
	noTransactions atomic.Bool
	rngPool        sync.Pool
	writeID        string        // random, per engine: the prefix of write tokens
	writeSeq       atomic.Uint64 // the rest of them
	stats          engineStats
	calls          callCounts
	scans          *ScanCursors
}

type engineStats struct {
	commands, conflicts, errors atomic.Uint64
}

// Stats are counters of an Engine.
type Stats struct {
	Commands  uint64 `json:"commands"`  // commands run on DynamoDB
	Conflicts uint64 `json:"conflicts"` // re-runs after a conditional write lost a race
	Errors    uint64 `json:"errors"`    // commands answered with an error from DynamoDB or hotswap itself
	Calls     Calls  `json:"calls"`     // DynamoDB calls made, per operation
}

// NewEngine returns an Engine over opts.
func NewEngine(opts Options) (*Engine, error) {
	if opts.Mapping == nil || opts.DB == nil {
		return nil, errors.New("translate: engine needs a mapping and a store")
	}
	var wid [6]byte
	_, _ = crand.Read(wid[:])
	e := &Engine{
		writeID:    hex.EncodeToString(wid[:]) + ":",
		m:          opts.Mapping,
		db:         opts.DB,
		eventual:   opts.Eventual,
		log:        opts.Logger,
		timeout:    opts.Timeout,
		tombTTL:    opts.TombstoneTTL,
		attempts:   opts.MaxAttempts,
		now:        opts.Now,
		handlers:   Handlers(),
		table:      aws.String(opts.Mapping.Table),
		noFastPath: opts.NoFastPath,
	}
	if e.eventual == nil {
		e.eventual = e.db
	}
	e.scans = NewScanCursors(DefaultScanCursors, DefaultScanCursorTTL, nil)
	// The eventual store is DAX when it is another store than DB (the DynamoDB client
	// hands out the same client for both without DAX).
	eventualBackend := "dynamodb"
	if opts.Eventual != nil && !sameStore(opts.Eventual, opts.DB) {
		eventualBackend = "dax"
	}
	e.db = countingStore{Store: e.db, c: &e.calls, obs: opts.Calls, backend: "dynamodb"}
	e.eventual = countingStore{Store: e.eventual, c: &e.calls, obs: opts.Calls, backend: eventualBackend}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	if e.timeout <= 0 {
		e.timeout = DefaultTimeout
	}
	if e.tombTTL <= 0 {
		e.tombTTL = DefaultTombstoneTTL
	}
	if e.attempts <= 0 {
		e.attempts = DefaultMaxAttempts
	}
	if e.now == nil {
		e.now = time.Now
	}
	e.rngPool.New = func() any { return rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())) }
	return e, nil
}

// sameStore reports whether two stores are the same value (false for values Go
// cannot compare).
func sameStore(a, b Store) (same bool) {
	defer func() {
		if recover() != nil {
			same = false
		}
	}()
	return a == b
}

// Mapping is the engine's mapping.
func (e *Engine) Mapping() *Mapping { return e.m }

// ScanCursors is the table of SCAN cursors over both stores (keyspace_scan.go).
func (e *Engine) ScanCursors() *ScanCursors { return e.scans }

// Stats returns the engine's counters.
func (e *Engine) Stats() Stats {
	return Stats{Commands: e.stats.commands.Load(), Conflicts: e.stats.conflicts.Load(), Errors: e.stats.errors.Load(), Calls: e.calls.snapshot()}
}

// Supports reports whether the engine translates the command.
func (e *Engine) Supports(info *command.Info) bool {
	_, ok := e.handlers[info.Name]
	return ok
}

// Cmd is one command bound for DynamoDB: its arguments and, for each key position the
// command table gives, the key's route.
type Cmd struct {
	Args   [][]byte
	Info   *command.Info
	Keys   []int   // key positions in Args
	Routes []Route // Routes[i] is the route of Args[Keys[i]]
	// OnWrite, when set, is called after a successful commit for every key written,
	// with its whole new state (nil: deleted) and version: the live and rampdown stages
	// copy it to Redis. Setting it turns the one-call fast paths off (they do not read
	// the whole new state).
	OnWrite WriteHook
}

// WriteHook receives a committed key's state and version.
type WriteHook func(key []byte, r *Route, v *Value, version int64)

// written calls hook for every key ks wrote at versions+1.
func written(ks *Keyspace, args [][]byte, keys []int, routes []Route, hook WriteHook) {
	if hook == nil {
		return
	}
	seen := map[string]bool{}
	for i, ki := range keys {
		k := args[ki]
		if seen[string(k)] {
			continue
		}
		seen[string(k)] = true
		en := ks.Entry(k)
		if en == nil || !en.Dirty || (en.Cur == nil && en.Loaded == nil) {
			continue
		}
		hook(en.Key, &routes[i], en.Cur.Clone(), en.Version+1)
	}
}

// Exec runs one command and appends its reply, in protocol proto, to dst.
func (e *Engine) Exec(ctx context.Context, proto int, c *Cmd, dst []byte) []byte {
	e.stats.commands.Add(1)
	r := Reply{buf: dst, proto: proto}
	h, ok := e.handlers[c.Info.Name]
	if !ok {
		r.Error(fmt.Sprintf("ERR hotswap: %s is not supported on keys of a DynamoDB family (family %s)", strings.ToUpper(c.Info.Name), familyNames(c.Routes)))
		return r.buf
	}
	if !c.Info.ArityOK(len(c.Args)) {
		r.Error("ERR wrong number of arguments for '" + c.Info.Name + "' command")
		return r.buf
	}
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	write := c.Info.Has(command.Write)
	rng := e.rngPool.Get().(*rand.Rand)
	defer e.rngPool.Put(rng)
	start := len(r.buf)
	if write && !e.noFastPath && c.OnWrite == nil {
		ok, err := e.fastPath(ctx, &r, c)
		if err != nil {
			return e.fail(&r, start, err)
		}
		if ok {
			return r.buf
		}
	}
	for attempt := 0; ; attempt++ {
		ks := NewKeyspace(e.now().UnixMilli(), rng)
		ks.SetMaxValue(MaxItemBytes)
		if err := e.load(ctx, ks, c.Args, c.Keys, c.Routes, write); err != nil {
			return e.fail(&r, start, err)
		}
		r.Truncate(start)
		h(ks, &r, c.Args)
		if err := checkKinds(ks, c.Args, c.Keys, c.Routes, c.Info.Name); err != nil {
			return e.fail(&r, start, err)
		}
		err := e.commit(ctx, ks, c.Args, c.Keys, c.Routes, false)
		if err == nil {
			written(ks, c.Args, c.Keys, c.Routes, c.OnWrite)
			return r.buf
		}
		if !errors.Is(err, errConflict) {
			return e.fail(&r, start, err)
		}
		e.stats.conflicts.Add(1)
		if attempt+1 >= e.attempts {
			return e.fail(&r, start, fmt.Errorf("ERR hotswap: %s lost %d races with other writers of the same key; try again", strings.ToUpper(c.Info.Name), attempt+1))
		}
		if err := sleepJitter(ctx, attempt); err != nil {
			return e.fail(&r, start, err)
		}
	}
}

// errConflict is a conditional write that failed because the item changed after it
// was read: the command runs again.
var errConflict = errors.New("translate: item changed since it was read")

// errNoTransactions: a transaction that must be atomic, on a store without
// TransactWriteItems (dynalite). Nothing was written.
var errNoTransactions = errors.New("ERR hotswap: this DynamoDB endpoint does not implement TransactWriteItems, so a transaction over several keys cannot be atomic; nothing was applied")

// fail replaces whatever the attempt wrote with an error reply.
func (e *Engine) fail(r *Reply, start int, err error) []byte {
	e.stats.errors.Add(1)
	r.Truncate(start)
	msg := err.Error()
	if !strings.HasPrefix(msg, "ERR ") {
		e.log.Warn("dynamodb command failed", "err", err)
		msg = "ERR hotswap: " + msg
	}
	r.Error(strings.NewReplacer("\r", " ", "\n", " ").Replace(msg))
	return r.buf
}

func sleepJitter(ctx context.Context, attempt int) error {
	d := time.Duration(1+rand.IntN(1<<min(attempt, 6))) * time.Millisecond
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return fmt.Errorf("dynamodb: %w", ctx.Err())
	case <-t.C:
		return nil
	}
}

// checkKinds refuses a write that would put a value of another kind into a typed
// family (SET on a key of a hash family): hotswap cannot store it as the family says.
func checkKinds(ks *Keyspace, args [][]byte, keys []int, routes []Route, name string) error {
	for i, ki := range keys {
		f := routes[i].Family
		if f == nil || f.Kind == KindNone {
			continue
		}
		en := ks.Entry(args[ki])
		if en == nil || !en.Dirty || en.Cur == nil {
			continue
		}
		if en.Cur.Kind != f.Kind {
			return fmt.Errorf("ERR hotswap: %s would store a %s in family %s, which holds values of type %s", strings.ToUpper(name), en.Cur.Kind, f.Name, f.Kind)
		}
	}
	return nil
}

func familyNames(routes []Route) string {
	var names []string
	seen := map[string]bool{}
	for _, r := range routes {
		if r.Family != nil && !seen[r.Family.Name] {
			seen[r.Family.Name] = true
			names = append(names, r.Family.Name)
		}
	}
	return strings.Join(names, ", ")
}

// load reads every distinct key of the command into ks: GetItem for one key,
// BatchGetItem for more. Writes and strong families read consistently from DB.
func (e *Engine) load(ctx context.Context, ks *Keyspace, args [][]byte, keys []int, routes []Route, write bool) error {
	var todo []int // indexes into keys of distinct keys not loaded yet
	seen := make(map[string]bool, len(keys))
	for i, ki := range keys {
		k := string(args[ki])
		if seen[k] || ks.Has(args[ki]) {
			continue
		}
		seen[k] = true
		todo = append(todo, i)
	}
	if len(todo) == 0 {
		return nil
	}
	strong := write
	for _, i := range todo {
		if routes[i].Family == nil || routes[i].Family.Read == Strong {
			strong = true
		}
	}
	st := e.db
	if !strong {
		st = e.eventual
	}
	if len(todo) == 1 {
		i := todo[0]
		out, err := st.GetItem(ctx, &dynamodb.GetItemInput{
			TableName:      e.table,
			Key:            itemKey(&routes[i]),
			ConsistentRead: aws.Bool(strong),
		})
		if err != nil {
			return fmt.Errorf("dynamodb: get item: %w", err)
		}
		return e.addItem(ks, args[keys[i]], &routes[i], out.Item)
	}
	// BatchGetItem: up to 100 keys a call; unprocessed keys are asked again.
	byPK := make(map[[2]string]int, len(todo))
	for start := 0; start < len(todo); start += maxBatchGet {
		chunk := todo[start:min(len(todo), start+maxBatchGet)]
		req := make([]map[string]types.AttributeValue, 0, len(chunk))
		for _, i := range chunk {
			pk := [2]string{routes[i].PK, routes[i].SK}
			if _, dup := byPK[pk]; dup {
				// Two keys on one item: the mapping's templates collide for them.
				return fmt.Errorf("ERR hotswap: keys %q and %q map to the same DynamoDB item (family %s)", args[keys[byPK[pk]]], args[keys[i]], famName(&routes[i]))
			}
			byPK[pk] = i
			req = append(req, itemKey(&routes[i]))
		}
		found := map[[2]string]map[string]types.AttributeValue{}
		in := &dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{
			*e.table: {Keys: req, ConsistentRead: aws.Bool(strong)},
		}}
		for attempt := 0; ; attempt++ {
			out, err := st.BatchGetItem(ctx, in)
			if err != nil {
				return fmt.Errorf("dynamodb: batch get item: %w", err)
			}
			for _, it := range out.Responses[*e.table] {
				pk, _ := it[AttrPK].(*types.AttributeValueMemberS)
				sk, _ := it[AttrSK].(*types.AttributeValueMemberS)
				if pk != nil && sk != nil {
					found[[2]string{pk.Value, sk.Value}] = it
				}
			}
			un, ok := out.UnprocessedKeys[*e.table]
			if !ok || len(un.Keys) == 0 {
				break
			}
			if err := sleepJitter(ctx, attempt); err != nil {
				return err
			}
			in = &dynamodb.BatchGetItemInput{RequestItems: out.UnprocessedKeys}
		}
		for _, i := range chunk {
			if err := e.addItem(ks, args[keys[i]], &routes[i], found[[2]string{routes[i].PK, routes[i].SK}]); err != nil {
				return err
			}
		}
	}
	return nil
}

// addItem decodes an item (nil: none) into ks.
func (e *Engine) addItem(ks *Keyspace, key []byte, r *Route, it map[string]types.AttributeValue) error {
	if it == nil {
		ks.Add(key, nil, 0, false)
		return nil
	}
	d, err := decodeItem(r, it)
	if err != nil {
		return err
	}
	if d.key != nil && string(d.key) != string(key) {
		return fmt.Errorf("ERR hotswap: key %q maps to the DynamoDB item of key %q (family %s): the mapping's pk/sk templates collide", key, d.key, famName(r))
	}
	ks.Add(key, d.val, d.version, true)
	return nil
}

// commit writes every key the command changed, each conditioned on the version it was
// read at. One key is one PutItem; several are one TransactWriteItems (with condition
// checks on the keys only read) so the command is atomic, as in Redis. On a store
// without transactions the keys of one command are written one at a time (a
// documented difference), unless atomic is set (MULTI), which then fails unapplied.
func (e *Engine) commit(ctx context.Context, ks *Keyspace, args [][]byte, keys []int, routes []Route, atomic bool) error {
	type write struct {
		en *Entry
		r  *Route
	}
	var writes, reads []write
	seen := map[string]bool{}
	for i, ki := range keys {
		k := string(args[ki])
		if seen[k] {
			continue
		}
		seen[k] = true
		en := ks.Entry(args[ki])
		switch {
		case en == nil:
		case en.Dirty && (en.Cur != nil || en.Loaded != nil):
			// Handlers Put exactly when Redis signals a modified key, so this write
			// also bumps the version that WATCH compares. A delete of a key that had no
			// value (missing, expired or a tombstone) has nothing to write.
			writes = append(writes, write{en, &routes[i]})
		default:
			reads = append(reads, write{en, &routes[i]})
		}
	}
	if len(writes) == 0 {
		return nil
	}
	tombExp := e.now().Add(e.tombTTL).Unix()
	// Every item of this commit carries its token: when a write is answered as a
	// conflict, the item is read back, and if it holds the token the write had landed
	// (the SDK retried a request whose reply was lost). Running the command again
	// would apply it twice (INCR, APPEND, ...).
	token := e.writeID + strconv.FormatUint(e.writeSeq.Add(1), 36)
	puts := make([]*types.Put, 0, len(writes))
	for _, w := range writes {
		it, err := encodeItem(w.r, w.en.Key, w.en.Cur, w.en.Version+1, tombExp)
		if err != nil {
			return err
		}
		it[AttrWrite] = &types.AttributeValueMemberS{Value: token}
		p := &types.Put{TableName: e.table, Item: it}
		p.ConditionExpression, p.ExpressionAttributeNames, p.ExpressionAttributeValues = versionCondition(w.en)
		puts = append(puts, p)
	}
	if len(puts) == 1 && len(reads) == 0 || len(puts) == 1 && e.noTransactions.Load() && !atomic {
		return e.landedOr(ctx, puts[0], token, e.put(ctx, puts[0]))
	}
	if atomic && e.noTransactions.Load() {
		return errNoTransactions
	}
	if !e.noTransactions.Load() {
		if len(puts)+len(reads) > maxTransactItems {
			return fmt.Errorf("ERR hotswap: the command touches %d keys; DynamoDB transactions take at most %d", len(puts)+len(reads), maxTransactItems)
		}
		items := make([]types.TransactWriteItem, 0, len(puts)+len(reads))
		for _, p := range puts {
			items = append(items, types.TransactWriteItem{Put: p})
		}
		for _, rd := range reads {
			cc := &types.ConditionCheck{TableName: e.table, Key: itemKey(rd.r)}
			cond, names, vals := versionCondition(rd.en)
			cc.ConditionExpression, cc.ExpressionAttributeNames, cc.ExpressionAttributeValues = cond, names, vals
			items = append(items, types.TransactWriteItem{ConditionCheck: cc})
		}
		_, err := e.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
		switch {
		case err == nil:
			return nil
		case isUnsupported(err):
			e.noTransactions.Store(true)
			e.log.Warn("the DynamoDB endpoint does not implement TransactWriteItems: multi-key commands are applied one key at a time, not atomically, and MULTI on several keys is refused", "err", err)
			if atomic {
				return errNoTransactions
			}
		case isTxConflict(err):
			return e.landedOr(ctx, puts[0], token, errConflict)
		default:
			return fmt.Errorf("dynamodb: transact write items: %w", err)
		}
	}
	for _, p := range puts {
		if err := e.landedOr(ctx, p, token, e.put(ctx, p)); err != nil {
			return err
		}
	}
	return nil
}

// landedOr returns err, unless err is a conflict and the item of p holds token: the
// write had landed, and the conflict is its own retry's.
func (e *Engine) landedOr(ctx context.Context, p *types.Put, token string, err error) error {
	if !errors.Is(err, errConflict) {
		return err
	}
	out, gerr := e.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:                p.TableName,
		Key:                      map[string]types.AttributeValue{AttrPK: p.Item[AttrPK], AttrSK: p.Item[AttrSK]},
		ConsistentRead:           aws.Bool(true),
		ProjectionExpression:     aws.String("#w"),
		ExpressionAttributeNames: map[string]string{"#w": AttrWrite},
	})
	if gerr == nil {
		if w, ok := out.Item[AttrWrite].(*types.AttributeValueMemberS); ok && w.Value == token {
			return nil
		}
	}
	return err
}

func (e *Engine) put(ctx context.Context, p *types.Put) error {
	_, err := e.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                 p.TableName,
		Item:                      p.Item,
		ConditionExpression:       p.ConditionExpression,
		ExpressionAttributeNames:  p.ExpressionAttributeNames,
		ExpressionAttributeValues: p.ExpressionAttributeValues,
	})
	if err == nil {
		return nil
	}
	if isConditionFailed(err) {
		return errConflict
	}
	return fmt.Errorf("dynamodb: put item: %w", err)
}

// versionCondition is the condition that the item is still as it was read.
func versionCondition(en *Entry) (*string, map[string]string, map[string]types.AttributeValue) {
	if !en.Exists {
		return aws.String("attribute_not_exists(#pk)"), map[string]string{"#pk": AttrPK}, nil
	}
	if en.Version == 0 {
		// An item written by another service, without a version.
		return aws.String("attribute_not_exists(#ver)"), map[string]string{"#ver": AttrVersion}, nil
	}
	return aws.String("#ver = :ver"), map[string]string{"#ver": AttrVersion}, map[string]types.AttributeValue{":ver": numAttr(en.Version)}
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func isConditionFailed(err error) bool {
	var cf *types.ConditionalCheckFailedException
	return errors.As(err, &cf) || apiCode(err) == "ConditionalCheckFailedException"
}

// isTxConflict: a transaction cancelled because a condition failed or another
// transaction touched the same items; either way the command runs again.
func isTxConflict(err error) bool {
	var tc *types.TransactionCanceledException
	if errors.As(err, &tc) {
		for _, r := range tc.CancellationReasons {
			if c := aws.ToString(r.Code); c != "" && c != "None" && c != "ConditionalCheckFailed" && c != "TransactionConflict" {
				return false
			}
		}
		return true
	}
	var tp *types.TransactionInProgressException
	return errors.As(err, &tp) || apiCode(err) == "TransactionConflictException"
}

func isUnsupported(err error) bool {
	switch apiCode(err) {
	case "UnknownOperationException", "NotImplementedException", "InvalidAction", "UnrecognizedClientException":
		return true
	}
	return false
}
