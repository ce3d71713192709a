package migrate

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/schollz/progressbar/v3"
)

// Counters are a run's live counts; safe for concurrent use.
type Counters struct {
	Scanned      atomic.Uint64 // keys (items) the walk returned, of any family
	Seen         atomic.Uint64 // keys (items) of the family
	Copied       atomic.Uint64 // copies written (verify: keys compared)
	Newer        atomic.Uint64 // copies not written: the target held a newer version or a tombstone
	Skipped      atomic.Uint64 // keys left alone: their entity's stage does not allow this copy
	Unmigratable atomic.Uint64 // keys that cannot be stored in the target (verify: differences)
	Errors       atomic.Uint64 // keys not copied (or compared) because of an error
	Estimate     atomic.Int64  // the expected number of keys of the family; 0 unknown
}

// Snapshot is a copy of Counters at one moment.
type Snapshot struct {
	Scanned, Seen, Copied, Newer, Skipped, Unmigratable, Errors uint64
	Estimate                                                    int64
}

// Snapshot reads the counters.
func (c *Counters) Snapshot() Snapshot {
	return Snapshot{
		Scanned: c.Scanned.Load(), Seen: c.Seen.Load(), Copied: c.Copied.Load(), Newer: c.Newer.Load(),
		Skipped: c.Skipped.Load(), Unmigratable: c.Unmigratable.Load(), Errors: c.Errors.Load(), Estimate: c.Estimate.Load(),
	}
}

// ProgressOptions say how a run shows its progress.
type ProgressOptions struct {
	// Terminal draws a live progress bar on W (stderr on a terminal); otherwise the
	// run logs a line every Interval.
	Terminal bool
	W        io.Writer
	Interval time.Duration // default 10s
	// Labels name the counters in the output: verify counts comparisons and
	// differences where backfill counts copies and unmigratable keys.
	Labels Labels
}

// Labels of the counters in progress output.
type Labels struct {
	Copied, Newer, Skipped, Unmigratable string
	// Compare: the counters are verify's (Unmigratable counts differences among the
	// keys compared, Newer re-checks), so the keys done are Copied + Errors.
	Compare bool
}

// done is the number of keys finished, which the bar shows.
func (s Snapshot) done(compare bool) int64 {
	if compare {
		return int64(s.Copied + s.Errors)
	}
	return int64(s.Copied + s.Newer + s.Skipped + s.Unmigratable + s.Errors)
}

// showProgress shows c until ctx ends, then returns; what it drew is cleared.
func showProgress(ctx context.Context, c *Counters, o ProgressOptions, log *slog.Logger, what string) {
	start := time.Now()
	line := func(s Snapshot) string {
		return fmt.Sprintf("%s %d, %s %d, %s %d, %s %d, errors %d", o.Labels.Copied, s.Copied, o.Labels.Newer, s.Newer,
			o.Labels.Skipped, s.Skipped, o.Labels.Unmigratable, s.Unmigratable, s.Errors)
	}
	if o.Terminal && o.W != nil {
		bar := progressbar.NewOptions64(-1,
			progressbar.OptionSetWriter(o.W),
			progressbar.OptionSetDescription(what),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("keys"),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(200*time.Millisecond),
			progressbar.OptionFullWidth(),
			progressbar.OptionShowDescriptionAtLineEnd(),
			progressbar.OptionClearOnFinish(),
		)
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		maxSet := int64(-1)
		for {
			s := c.Snapshot()
			done := s.done(o.Labels.Compare)
			if s.Estimate > 0 && s.Estimate != maxSet && s.Estimate >= done {
				bar.ChangeMax64(s.Estimate)
				maxSet = s.Estimate
			}
			bar.Describe(what + ": " + line(s))
			_ = bar.Set64(done)
			select {
			case <-ctx.Done():
				_ = bar.Clear()
				return
			case <-t.C:
			}
		}
	}
	interval := o.Interval
	if interval <= 0 {
		interval = 10 * time.Second
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s := c.Snapshot()
		el := time.Since(start).Seconds()
		done := s.done(o.Labels.Compare)
		rate := float64(done) / el
		attrs := []any{"seen", s.Seen, o.Labels.Copied, s.Copied, o.Labels.Newer, s.Newer, o.Labels.Skipped, s.Skipped,
			o.Labels.Unmigratable, s.Unmigratable, "errors", s.Errors, "keys_per_s", int64(rate)}
		if s.Estimate > 0 && rate > 0 && s.Estimate > done {
			attrs = append(attrs, "estimate", s.Estimate, "eta", time.Duration(float64(s.Estimate-done)/rate*float64(time.Second)).Round(time.Second))
		}
		log.Info(what+" progress", attrs...)
	}
}
