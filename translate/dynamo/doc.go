// Package dynamo is hotswap's DynamoDB client layer: it opens the AWS SDK client (and a
// DAX client in front of it when one is configured), implements translate.Store over
// them, classifies the SDK's errors at the package boundary (IsConditionFailed,
// IsTransactionConflict, IsThrottle, IsUnsupported, IsNotFound) and creates the table
// hotswap writes to (CreateTable, used by `hotswap table create`).
//
// Two stores come out of a Client (DESIGN.md §4 and §6):
//
//   - DB() is DynamoDB itself: strongly consistent reads (ConsistentRead) and writes.
//   - Eventual() is DAX when a DAX endpoint is configured, else DynamoDB. DAX serves
//     eventually consistent reads from its caches and writes through to DynamoDB, so
//     only families that declare `eventual` reads use it. When DAX cannot be reached,
//     its calls go to DynamoDB (see DAX fallback in dax.go): hotswap keeps answering,
//     but other nodes' DAX caches may serve items that are stale for up to their TTL.
//     Every such call is counted in Stats().DAXFallbacks.
//
// Errors from the stores are the SDK's own (a failed condition is
// *types.ConditionalCheckFailedException), so callers can use errors.As on them; the Is*
// helpers also recognise what DAX, dynalite and moto answer for the same conditions.
package dynamo

// Log keys, shared by every log line of the package.
const (
	logKeyEndpoint = "endpoint"
	logKeyTable    = "table"
	logKeyErr      = "err"
	logKeyReason   = "reason"
)
