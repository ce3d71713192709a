package flags

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// DefaultPollInterval is how often OpenFile re-reads the flag file, whatever the
// file watcher reports.
const DefaultPollInterval = 250 * time.Millisecond

// settleDelay is how long the file watcher waits after the last event in the
// file's directory before reading: an editor's write, a truncate-then-write or a
// ConfigMap swap is a burst of events.
const settleDelay = 20 * time.Millisecond

// OpenFile returns a Source that evaluates the flagd flag file at path (JSON, in
// flagd's flag-definition format) with the flagd provider's in-process evaluator,
// and reloads it without restart when it changes, however it is replaced: written
// in place, renamed over, or swapped by a Kubernetes ConfigMap's ..data symlink.
//
// The first read happens before OpenFile returns: with a valid file the Source is
// ready at once. A missing or invalid file is not an error: the Source starts not
// ready (Ready says why), every family stays at its floor, and the file is loaded
// as soon as it appears. OpenFile fails only when ctx ends first or path is empty.
func OpenFile(ctx context.Context, path string, log *slog.Logger, opts ...Option) (*OpenFeature, error) {
	if path == "" {
		return nil, errors.New("flags: open file: empty path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("flags: open file %s: %w", path, err)
	}
	if ext := strings.ToLower(filepath.Ext(abs)); ext == ".yaml" || ext == ".yml" {
		// A half-written YAML file is usually still valid YAML, with some flags missing.
		return nil, fmt.Errorf("flags: open file %s: only JSON flag files are supported", path)
	}
	o := options{pollInterval: DefaultPollInterval}
	for _, opt := range opts {
		opt(&o)
	}
	s, err := newOpenFeature(log, abs, "file://"+abs, o)
	if err != nil {
		return nil, err
	}
	w := &fileWatch{s: s, path: abs, poll: o.pollInterval}
	if !o.noWatch {
		w.watch() // before the first read, so no change falls between the two
	}
	w.check(ctx)
	if err := ctx.Err(); err != nil {
		w.close()
		_ = s.Close()
		return nil, fmt.Errorf("flags: open file %s: %w", path, err)
	}
	s.wg.Go(func() {
		defer w.close()
		w.run(s.ctx)
	})
	return s, nil
}

// fileWatch reloads a flag file. The flagd provider's own file mode (v0.6.0)
// watches the file's inode with fsnotify: it cannot start on a missing file, and
// misses a file deleted and re-created and a ConfigMap swap whose old directory
// stays. So hotswap reads the file itself, on any event in the file's directory
// (which sees renames and ..data swaps) and every poll interval, and feeds the
// provider through a relay (see the package documentation).
type fileWatch struct {
	s       *OpenFeature
	path    string
	poll    time.Duration
	fw      *fsnotify.Watcher // nil: polling only
	last    []byte            // content last offered, accepted or not
	lastErr string            // read error last logged
}

// watch starts watching the file's directory.
func (w *fileWatch) watch() {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		w.s.log.Warn("flags: cannot watch the flag file: polling only", logKeySource, w.path, logKeyError, err)
		return
	}
	if err := fw.Add(filepath.Dir(w.path)); err != nil {
		_ = fw.Close()
		w.s.log.Warn("flags: cannot watch the flag file's directory: polling only", logKeySource, w.path, logKeyError, err)
		return
	}
	w.fw = fw
}

func (w *fileWatch) close() {
	if w.fw != nil {
		_ = w.fw.Close()
	}
}

func (w *fileWatch) run(ctx context.Context) {
	var events <-chan fsnotify.Event
	var errs <-chan error
	if w.fw != nil {
		events, errs = w.fw.Events, w.fw.Errors
	}
	var tick <-chan time.Time
	if w.poll > 0 {
		t := time.NewTicker(w.poll)
		defer t.Stop()
		tick = t.C
	}
	settle := time.NewTimer(time.Hour)
	settle.Stop()
	defer settle.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
			w.check(ctx)
		case _, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			settle.Reset(settleDelay)
		case <-settle.C:
			w.check(ctx)
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			w.s.log.Warn("flags: file watcher", logKeySource, w.path, logKeyError, err)
		}
	}
}

// check reads the file and offers it when its content changed.
func (w *fileWatch) check(ctx context.Context) {
	data, err := os.ReadFile(w.path)
	if err != nil {
		err = fmt.Errorf("read flag file: %w", err)
		if !w.s.ready.Load() {
			w.s.setLoadErr(err)
		}
		if msg := err.Error(); msg != w.lastErr {
			w.lastErr = msg
			w.s.log.Warn("flags: cannot read the flag file: the configuration in force stays",
				logKeySource, w.path, logKeyRevision, w.s.Revision(), logKeyError, err)
		}
		return
	}
	w.lastErr = ""
	if w.last != nil && bytes.Equal(data, w.last) {
		return
	}
	if err := w.s.offer(ctx, data); err != nil && !errors.Is(err, ErrInvalidConfig) {
		// The provider did not start: try again on the next check.
		w.last = nil
		return
	}
	w.last = data
}
