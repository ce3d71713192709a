// Package flags gives the migration stage of each key family's entity (DESIGN.md
// §3) behind one narrow interface, Source. OpenFile and OpenFlagd evaluate
// OpenFeature flags with the flagd provider; Static is fixed stages, for tests
// and for running with no flags configured (every family at its floor).
//
// # Flags
//
// Each family is staged by one string flag, Family.Flag: hotswap.<family>.stage
// unless the mapping names another (families that must move together name the
// same flag; the mapping makes them share a floor). The flag's values are the six
// stage names (off, dualwrite, shadow, live, rampdown, complete), and it is
// evaluated with the entity (the key's capture) as targeting key. The result is
// never below the family's floor: max(evaluation, Family.Floor).
//
// A flag the configuration does not define is the family's default: the family
// stays at its floor (entities already decided keep their last stage). It is
// counted as a missing flag and logged once per revision. A DISABLED flag counts
// the same way.
//
// # Ramps
//
// Ramp with flagd's fractional operator and an explicit seed as the bucketing key,
// as deploy/examples/flags.json does:
//
//	"fractional": [
//	  {"cat": ["hotswap-user-v1/", {"var": "targetingKey"}]},
//	  ["off", 75], ["dualwrite", 25]
//	]
//
// An entity's bucket is a hash of seed+entity alone, so every instance, and every
// flag using the same seed, buckets it the same way. List the buckets in stage
// order, off first: raising a later stage's share then only moves entities
// forward (25% → 50% keeps every entity that was in). A new seed reshuffles
// everyone.
//
// # Trouble
//
// Flag trouble never moves an entity backwards:
//   - A configuration that is empty, truncated, not JSON or not in flagd's format
//     is refused as a whole before the provider sees it; the one in force stays
//     (counted in Stats.Rejected, logged). So a half-written file changes nothing.
//   - A missing flag, or a value that is not a stage name, keeps the entity's last
//     good stage, or gives the floor to an entity never decided; an error of the
//     provider does the same. Counted in Stats.Fallbacks, logged once per (flag,
//     reason) and revision, and at most once a minute after that.
//   - Before the first configuration loads, Ready fails and every family is at its
//     floor.
//
// # Cache
//
// Evaluation costs tens of µs, so decisions are cached per (flag, entity): a
// cached lookup costs about 0.1 µs and allocates nothing. When the provider
// reports PROVIDER_CONFIGURATION_CHANGED, the decisions of the flags it names
// stop answering; they stay in the cache as the last good stages for fallback
// until re-evaluated. The cache is bounded (DefaultCacheSize entries, about 100
// bytes each): an entity evicted for lack of use has no last good stage.
//
// # Revisions
//
// Revision is the first 16 hex digits of the SHA-256 of the configuration as read
// (`sha256sum flags.json | cut -c1-16`), or as flagd sent it. It is exact: hotswap
// adds RevisionFlag, a flag holding the revision, to each configuration it hands
// to the provider, and reads it back when the provider reports the change.
//
// # How the provider is used
//
// Each OpenFeature Source has its own go-sdk API (isolated.NewAPI, go-sdk
// v1.20), not the global singleton that openfeature.SetProvider sets, so several
// Sources live in one process. Its flagd provider (v0.6.0) runs the in-process
// evaluator, fed through a custom sync source (WithCustomSyncProviderAndUri) with
// the configurations hotswap has read and checked; the go-sdk delivers the
// provider's events to handlers, each in a goroutine of its own.
//
// The provider's own file mode (WithOfflineFilePath) was tried first. It picks
// up a rename over the file, a truncate-then-write and a ConfigMap ..data swap
// within ~40 ms, and keeps its flags on a malformed file. But it cannot start on
// a missing file (fsnotify cannot watch it, and the provider never retries), it
// misses a file deleted and then re-created, and a ..data swap whose old
// directory is not removed, and it gives no way to know which file content is in
// force. A provider whose Init failed never forwards events again, so hotswap
// starts the provider only once a configuration is ready for it.
//
// OpenFile watches the file's directory (fsnotify sees renames and ..data swaps,
// and events settle for 20 ms) and also re-reads the file every 250 ms: a new
// configuration is in force in 15-90 ms with the watcher, and within 250 ms by
// polling alone. Only JSON is read: a half-written YAML file is often valid YAML.
//
// OpenFlagd follows a flagd daemon's sync stream (flagd.sync.v1, port 8015) with
// a small client of its own (the provider's gRPC sync, v0.6.0, races at Shutdown)
// and evaluates in process too, so both modes behave alike; a configuration
// change is in force in a few ms, and a lost stream is re-established with
// backoff while the configuration in force stays.
//
// The provider's in-process service writes a few JSON lines of its own to stderr
// when it starts and stops (it takes no logger in v0.6.0); everything else is
// logged through the injected slog.Logger.
package flags
