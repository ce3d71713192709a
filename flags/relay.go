package flags

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/open-feature/flagd/core/pkg/evaluator"
	flagdlog "github.com/open-feature/flagd/core/pkg/logger"
	"github.com/open-feature/flagd/core/pkg/store"
	isync "github.com/open-feature/flagd/core/pkg/sync"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// RevisionFlag is the flag key hotswap adds to every configuration it hands to
// the provider: a static string flag whose value is the configuration's revision.
// Reading it back tells exactly which configuration the evaluator holds, and
// because it changes with every revision, every new configuration makes the
// provider report a change. A flag of this name in the file is replaced.
const RevisionFlag = "hotswap.revision"

// ErrInvalidConfig is wrapped by the reasons a flag configuration is refused.
var ErrInvalidConfig = errors.New("invalid flag configuration")

// revisionOf names a configuration: the first 16 hex digits of the SHA-256 of its
// bytes as read (what `sha256sum FILE | cut -c1-16` prints).
// RevisionOf is the revision of a configuration: a hash of its bytes, the same in
// every instance that reads the same file.
func RevisionOf(data []byte) string { return revisionOf(data) }

func revisionOf(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:8])
}

// validator checks configurations with flagd's own parser before the provider
// sees them, so the provider only ever receives configurations it accepts: a bad
// file then never replaces a good one, and the provider never enters an error
// state (the go-sdk would keep it there until the next READY).
type validator struct {
	mu sync.Mutex
	ev *evaluator.JSON
}

const validateSource = "validate"

func newValidator(log *slog.Logger) (*validator, error) {
	fl := flagdLogger(log)
	st, err := store.NewStore(fl, []string{validateSource})
	if err != nil {
		return nil, fmt.Errorf("flags: flagd store: %w", err)
	}
	// flagd logs schema violations as warnings and accepts the file; they reach
	// our log through the zap bridge.
	return &validator{ev: evaluator.NewJSON(fl, st)}, nil
}

// prepare checks a configuration and returns it with RevisionFlag added.
func (v *validator) prepare(data []byte, rev string) (string, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return "", fmt.Errorf("%w: empty", ErrInvalidConfig)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber() // weights and numbers pass through unchanged
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		return "", fmt.Errorf("%w: not a JSON object: %w", ErrInvalidConfig, err)
	}
	if dec.More() {
		return "", fmt.Errorf("%w: data after the JSON object", ErrInvalidConfig)
	}
	flags, ok := doc["flags"].(map[string]any)
	if !ok {
		return "", fmt.Errorf(`%w: no "flags" object`, ErrInvalidConfig)
	}
	flags[RevisionFlag] = map[string]any{
		"state":          "ENABLED",
		"variants":       map[string]any{"r": rev},
		"defaultVariant": "r",
	}
	out, err := json.Marshal(doc)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if err := v.ev.SetState(isync.DataSync{FlagData: string(out), Source: validateSource}); err != nil {
		return "", fmt.Errorf("%w: flagd refuses it: %w", ErrInvalidConfig, err)
	}
	return string(out), nil
}

// relay is the flagd sync source of the in-process provider: it hands over the
// newest configuration a Source accepted. Configurations that arrive while the
// provider is busy are skipped in favour of the newest.
type relay struct {
	uri     string
	mu      sync.Mutex
	data    string
	version uint64        // 0: nothing yet
	changed chan struct{} // closed and replaced on every put
}

var _ isync.ISync = (*relay)(nil)

func newRelay(uri string) *relay { return &relay{uri: uri, changed: make(chan struct{})} }

func (r *relay) put(data string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.data = data
	r.version++
	close(r.changed)
	r.changed = make(chan struct{})
}

func (r *relay) latest() (string, uint64, <-chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.data, r.version, r.changed
}

// Init implements sync.ISync.
func (r *relay) Init(context.Context) error { return nil }

// IsReady implements sync.ISync.
func (r *relay) IsReady() bool {
	_, v, _ := r.latest()
	return v > 0
}

// Sync implements sync.ISync: it sends the newest configuration now and after
// every change, until ctx ends.
func (r *relay) Sync(ctx context.Context, out chan<- isync.DataSync) error {
	var sent uint64
	for {
		data, v, changed := r.latest()
		if v != sent {
			select {
			case out <- isync.DataSync{FlagData: data, Source: r.uri}:
				sent = v
			case <-ctx.Done():
				return nil
			}
			continue
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil
		}
	}
}

// ReSync implements sync.ISync.
func (r *relay) ReSync(ctx context.Context, out chan<- isync.DataSync) error {
	data, v, _ := r.latest()
	if v == 0 {
		return nil
	}
	select {
	case out <- isync.DataSync{FlagData: data, Source: r.uri}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("flags: resync: %w", ctx.Err())
	}
}

// flagdLogger gives flagd's components a logger that writes to log: flagd's
// info lines at debug level, its warnings and errors as they are.
func flagdLogger(log *slog.Logger) *flagdlog.Logger {
	return flagdlog.NewLogger(zap.New(&slogCore{log: log.With(logKeyComponent, "flagd")}), false)
}

// slogCore is a zapcore.Core that writes to a slog.Logger.
type slogCore struct {
	log   *slog.Logger
	attrs []any
}

func slogLevel(l zapcore.Level) slog.Level {
	switch {
	case l <= zapcore.InfoLevel:
		return slog.LevelDebug
	case l == zapcore.WarnLevel:
		return slog.LevelWarn
	default:
		return slog.LevelError
	}
}

func (c *slogCore) Enabled(l zapcore.Level) bool {
	return c.log.Enabled(context.Background(), slogLevel(l))
}

func (c *slogCore) With(fields []zapcore.Field) zapcore.Core {
	return &slogCore{log: c.log, attrs: append(append([]any(nil), c.attrs...), fieldAttrs(fields)...)}
}

func (c *slogCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *slogCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	args := append(append([]any(nil), c.attrs...), fieldAttrs(fields)...)
	c.log.Log(context.Background(), slogLevel(e.Level), e.Message, args...)
	return nil
}

func (c *slogCore) Sync() error { return nil }

func fieldAttrs(fields []zapcore.Field) []any {
	if len(fields) == 0 {
		return nil
	}
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range fields {
		f.AddTo(enc)
	}
	args := make([]any, 0, 2*len(enc.Fields))
	for k, v := range enc.Fields {
		args = append(args, "flagd."+k, v) // flagd's "component" is not ours
	}
	return args
}
