// Package migrate copies and compares a key family between Redis and DynamoDB outside
// the command path: `hotswap backfill` (Redis → DynamoDB, and --reverse for a rollback
// after complete) and `hotswap verify [--repair]` (DESIGN.md §5, docs/MAPPING.md).
//
// It shares the item layout with translate (translate.EncodeItem, DecodeItem) and the
// versions with dual: a forward copy takes its version from hotswap's clock in the same
// atomic script that reads the key, exactly as the syncer's capture does, and a
// reverse copy is applied with the syncer's own script and versions hash. Neither can
// overwrite a newer state written through hotswap meanwhile.
package migrate
