package migrate

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"golang.org/x/time/rate"

	"hotswap/dual"
	"hotswap/translate"
)

// Defaults of Options.
const (
	DefaultRate               = 1000 // copies per second
	DefaultConcurrency        = 16
	DefaultLeaseTTL           = 30 * time.Second
	DefaultScanCount          = 500
	DefaultCheckpointInterval = 2 * time.Second
	maxCopyAttempts           = 8
	redisRetryFor             = 2 * time.Minute
)

// FleetCheck names the live instances of the fleet that do not yet run the family at
// dualwrite or later (the fleet registry, DESIGN.md §5). A backfill refuses to start
// while any lags: a write through a lagging instance would not be copied.
type FleetCheck func(ctx context.Context, family string) (lagging []string, err error)

// Options configure Backfill and Reverse.
type Options struct {
	Mapping *translate.Mapping
	Family  string
	// Redis runs hotswap's own commands on the source (or, reversed, target) Redis.
	Redis dual.Redis
	// DB serves strong reads, scans and the control items; Writes the copies (DAX when
	// configured, so its item cache stays coherent). Writes nil: DB.
	DB, Writes translate.Store
	Logger     *slog.Logger
	// Rate bounds the copies per second (default DefaultRate; negative: unlimited).
	// Throttling from DynamoDB halves the rate in force, which then climbs back.
	Rate float64
	// Concurrency is the number of copies in flight (default DefaultConcurrency).
	Concurrency int
	// Resume continues from the family's checkpoint instead of the start.
	Resume bool
	// Force skips the fleet check.
	Force bool
	// Fleet is the fleet check; nil without Force is an error.
	Fleet FleetCheck
	// Stage is the stage of a key's entity (default: the family's floor). A forward
	// copy leaves keys whose entity is DynamoDB-authoritative alone (their DynamoDB
	// state is newer than Redis'), a reverse copy those still Redis-authoritative.
	Stage func(r *translate.Route) translate.Stage
	// LeaseTTL is how long the lease lasts without renewal (default DefaultLeaseTTL); a
	// backfill that finds a lease expiring within LeaseWait waits for it.
	LeaseTTL, LeaseWait time.Duration
	// Owner names this run in the lease (default: host, pid and a random suffix).
	Owner string
	// ScanCount is SCAN's COUNT (and the reverse Scan's Limit); default DefaultScanCount.
	ScanCount int
	// CheckpointInterval is how often the checkpoint is written (default 2s).
	CheckpointInterval time.Duration
	// UnmigratablePath receives one line per key that cannot be copied (too large,
	// wrong type, key too long): the key as a Go-quoted string, a tab, the reason.
	// Default: hotswap-backfill-<family>-unmigratable.txt in the working directory.
	UnmigratablePath string
	// Keys are hotswap's own keys in Redis (dual's defaults when empty).
	Keys dual.RedisKeys
	// Progress: how progress is shown.
	Progress ProgressOptions
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Result is a finished run's account.
type Result struct {
	Snapshot
	Duration time.Duration
	// Restarts counts walks restarted from the beginning because Redis restarted (its
	// run_id changed: SCAN cursors are only valid for one process).
	Restarts int
	// Resumed is set when the run continued from a checkpoint.
	Resumed bool
	// AlreadyDone is set when --resume found the previous run complete.
	AlreadyDone bool
	// UnmigratablePath is the file listing the unmigratable keys ("" when none).
	UnmigratablePath string
}

// Complete reports whether every key of the family was copied or deliberately left
// alone (newer in the target, stage): nothing unmigratable, no errors.
func (r Result) Complete() bool { return r.Unmigratable == 0 && r.Errors == 0 }

func (o *Options) setDefaults() error {
	if o.Mapping == nil || o.Redis == nil || o.DB == nil {
		return errors.New("migrate: a mapping, Redis and DynamoDB are required")
	}
	if o.Writes == nil {
		o.Writes = o.DB
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Rate == 0 {
		o.Rate = DefaultRate
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = DefaultLeaseTTL
	}
	if o.LeaseWait <= 0 {
		o.LeaseWait = o.LeaseTTL + o.LeaseTTL/2
	}
	if o.ScanCount <= 0 {
		o.ScanCount = DefaultScanCount
	}
	if o.CheckpointInterval <= 0 {
		o.CheckpointInterval = DefaultCheckpointInterval
	}
	if o.Stage == nil {
		o.Stage = func(r *translate.Route) translate.Stage { return r.Family.Floor }
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Owner == "" {
		o.Owner = defaultOwner()
	}
	if o.UnmigratablePath == "" {
		o.UnmigratablePath = "hotswap-backfill-" + o.Family + "-unmigratable.txt"
	}
	o.Keys = keysWithDefaults(o.Keys)
	if o.Progress.Labels == (Labels{}) {
		o.Progress.Labels = Labels{Copied: "copied", Newer: "newer", Skipped: "skipped_stage", Unmigratable: "unmigratable"}
	}
	return nil
}

func keysWithDefaults(k dual.RedisKeys) dual.RedisKeys {
	if k.Journal == "" {
		k.Journal = dual.DefaultJournalKey
	}
	if k.Clock == "" {
		k.Clock = dual.DefaultClockKey
	}
	if k.Version == "" {
		k.Version = dual.DefaultVersionKey
	}
	return k
}

func defaultOwner() string {
	host, _ := os.Hostname()
	var b [3]byte
	_, _ = rand.Read(b[:])
	return host + "/" + strconv.Itoa(os.Getpid()) + "/" + hex.EncodeToString(b[:])
}

// checkFleet runs the fleet check unless forced.
func checkFleet(ctx context.Context, o *Options) error {
	if o.Force {
		o.Logger.Warn("--force: not checking that every instance dual-writes the family; writes through an instance that does not are not copied", "family", o.Family)
		return nil
	}
	if o.Fleet == nil {
		return errors.New("no fleet registry to check that every instance dual-writes the family (use --force to skip the check)")
	}
	lagging, err := o.Fleet(ctx, o.Family)
	if err != nil {
		return fmt.Errorf("fleet check: %w (use --force to skip the check)", err)
	}
	if len(lagging) > 0 {
		return fmt.Errorf("not every instance runs family %s at dualwrite or later; lagging: %v (use --force to skip the check)", o.Family, lagging)
	}
	return nil
}

// run is the machinery one backfill (either direction) shares.
type run struct {
	o       *Options
	fam     *translate.Family
	table   string
	started time.Time
	c       Counters
	limiter *rate.Limiter
	rateMax rate.Limit
	lastThr atomic.Int64 // unix ms of the last throttling

	unmigMu   sync.Mutex
	unmigFile *os.File
	unmigW    *bufio.Writer
}

func newRun(o *Options) (*run, error) {
	fam := o.Mapping.Family(o.Family)
	if fam == nil {
		return nil, fmt.Errorf("the mapping has no family %q", o.Family)
	}
	r := &run{o: o, fam: fam, table: o.Mapping.Table, started: o.Now()}
	r.rateMax = rate.Inf
	burst := o.Concurrency
	if o.Rate > 0 {
		r.rateMax = rate.Limit(o.Rate)
		burst = max(1, min(o.Concurrency, int(math.Ceil(o.Rate))))
	}
	r.limiter = rate.NewLimiter(r.rateMax, burst)
	return r, nil
}

// throttled halves the rate in force (it climbs back in adapt).
func (r *run) throttled() {
	r.lastThr.Store(time.Now().UnixMilli())
	cur := r.limiter.Limit()
	if cur == rate.Inf {
		cur = rate.Limit(float64(r.o.Concurrency) * 100)
	}
	r.limiter.SetLimit(max(cur/2, 1))
}

// adapt raises the rate by a quarter every 5 s without throttling, up to the maximum.
func (r *run) adapt(ctx context.Context) {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cur := r.limiter.Limit()
		if cur == r.rateMax || time.Now().UnixMilli()-r.lastThr.Load() < 5000 {
			continue
		}
		next := cur * 5 / 4
		if r.rateMax != rate.Inf && next > r.rateMax {
			next = r.rateMax
		}
		if r.rateMax == rate.Inf && next > rate.Limit(float64(r.o.Concurrency)*1000) {
			next = rate.Inf
		}
		r.limiter.SetLimit(next)
	}
}

// backoff waits before attempt (1-based) of a retry: exponential with full jitter.
func backoff(ctx context.Context, attempt int, base, maxD time.Duration) error {
	d := base << min(attempt, 10)
	d = min(d, maxD)
	return sleep(ctx, time.Duration(mrand.Int64N(int64(d))+1))
}

// unmigratable records a key that cannot be copied.
func (r *run) unmigratable(key []byte, reason string) {
	r.c.Unmigratable.Add(1)
	r.unmigMu.Lock()
	defer r.unmigMu.Unlock()
	if r.unmigW == nil {
		f, err := os.Create(r.o.UnmigratablePath)
		if err != nil {
			r.o.Logger.Error("cannot write the list of unmigratable keys", "file", r.o.UnmigratablePath, "err", err)
			return
		}
		r.unmigFile, r.unmigW = f, bufio.NewWriter(f)
	}
	fmt.Fprintf(r.unmigW, "%q\t%s\n", key, reason)
}

func (r *run) closeUnmigratable() (string, error) {
	r.unmigMu.Lock()
	defer r.unmigMu.Unlock()
	if r.unmigW == nil {
		return "", nil
	}
	err := r.unmigW.Flush()
	if cerr := r.unmigFile.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return r.o.UnmigratablePath, fmt.Errorf("write %s: %w", r.o.UnmigratablePath, err)
	}
	return r.o.UnmigratablePath, nil
}

// holdLease takes the family's lease and keeps it; the returned context ends when the
// lease is lost. release must be called at the end.
func (r *run) holdLease(ctx context.Context, mode string) (context.Context, func(), error) {
	l := &lease{db: r.o.DB, table: r.table, family: r.o.Family, owner: r.o.Owner, mode: mode, ttl: r.o.LeaseTTL, now: r.o.Now}
	err := l.acquireWait(ctx, r.o.LeaseWait, func(h *LeaseHeldError) {
		r.o.Logger.Info("waiting for the lease of a backfill that stopped without releasing it", "holder", h.Owner, "expires", h.Expires.Format(time.RFC3339Nano))
	})
	if err != nil {
		return nil, nil, err
	}
	lctx, cancel := context.WithCancelCause(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.keep(lctx, func(err error) { cancel(err) })
	}()
	release := func() {
		cancel(nil)
		<-done
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer rcancel()
		if err := l.release(rctx); err != nil {
			r.o.Logger.Warn("could not release the backfill lease; it expires by itself", "err", err, "ttl", r.o.LeaseTTL)
		}
	}
	return lctx, release, nil
}

// watermark tracks which pages of one walk are done, in order: the checkpoint is the
// position after the last page of an unbroken run of completed pages, so every key
// before it was copied. A page that failed freezes it for the rest of the walk.
type watermark struct {
	mu     sync.Mutex
	gen    int
	next   int               // the oldest page not known done
	done   map[int]*position // completed pages ahead of next
	pos    *position         // the checkpoint position (nil: the start)
	failed bool
	dirty  bool
}

// position is where a walk continues after a page: a SCAN cursor or an
// ExclusiveStartKey; end marks the walk's last page.
type position struct {
	cursor   string
	startKey map[string]types.AttributeValue
	end      bool
}

func (w *watermark) reset(gen int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.gen, w.next, w.done, w.pos, w.failed, w.dirty = gen, 0, map[int]*position{}, nil, false, true
}

func (w *watermark) complete(gen, seq int, p *position, ok bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if gen != w.gen || w.failed {
		return
	}
	if !ok {
		w.failed = true
		return
	}
	w.done[seq] = p
	for {
		np, ok := w.done[w.next]
		if !ok {
			break
		}
		delete(w.done, w.next)
		w.next++
		w.pos = np
		w.dirty = true
	}
}

// take returns the checkpoint position if it moved since the last take.
func (w *watermark) take() (p *position, gen int, changed bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	changed, w.dirty = w.dirty, false
	return w.pos, w.gen, changed
}

// page is a piece of the walk whose copies complete together.
type page struct {
	gen, seq int
	pos      *position
	pending  atomic.Int64
	failed   atomic.Bool
	w        *watermark
}

// finish marks one of the page's copies done.
func (p *page) finish(ok bool) {
	if !ok {
		p.failed.Store(true)
	}
	if p.pending.Add(-1) == 0 {
		p.w.complete(p.gen, p.seq, p.pos, !p.failed.Load())
	}
}
