package dynamo

import (
	"errors"
	"net/http"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
)

// ErrKeySchema is wrapped by CreateTable when the table exists with another key schema
// than hotswap's (pk S HASH, sk S RANGE).
var ErrKeySchema = errors.New("table has the wrong key schema")

// The helpers below classify errors by their API error code rather than by SDK type
// alone: DAX converts some errors into *smithy.GenericAPIError with the same code, and
// moto answers some operations with codes the SDK has no type for. They all look
// through wrapping (errors.As), so errors wrapped with %w still classify.

// Cancellation reason codes of a TransactionCanceledException.
const (
	reasonNone                   = "None"
	reasonConditionalCheckFailed = "ConditionalCheckFailed"
	reasonTransactionConflict    = "TransactionConflict"
	reasonThrottlingError        = "ThrottlingError"
	reasonProvisionedThroughput  = "ProvisionedThroughputExceeded"
)

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// cancelReasons returns the reason codes of a cancelled transaction (ok false when err
// is not one).
func cancelReasons(err error) (codes []string, ok bool) {
	var tc *types.TransactionCanceledException
	if !errors.As(err, &tc) {
		return nil, false
	}
	for _, r := range tc.CancellationReasons {
		c := reasonNone
		if r.Code != nil {
			c = *r.Code
		}
		codes = append(codes, c)
	}
	return codes, true
}

// IsConditionFailed reports whether a write was refused because its condition did not
// hold: ConditionalCheckFailedException, or a cancelled transaction whose only reasons
// are failed conditions (every other item None). A transaction cancelled for another
// reason as well (a conflict, throttling) is not: retrying it may succeed.
func IsConditionFailed(err error) bool {
	if err == nil {
		return false
	}
	if apiCode(err) == "ConditionalCheckFailedException" {
		return true
	}
	reasons, ok := cancelReasons(err)
	if !ok {
		return false
	}
	failed := false
	for _, r := range reasons {
		switch r {
		case reasonConditionalCheckFailed:
			failed = true
		case reasonNone:
		default:
			return false
		}
	}
	return failed
}

// IsTransactionConflict reports whether a write lost a race with a concurrent
// transaction and may succeed if retried: TransactionConflictException, a cancelled
// transaction with a TransactionConflict reason, or TransactionInProgressException.
func IsTransactionConflict(err error) bool {
	if err == nil {
		return false
	}
	switch apiCode(err) {
	case "TransactionConflictException", "TransactionInProgressException":
		return true
	}
	reasons, _ := cancelReasons(err)
	for _, r := range reasons {
		if r == reasonTransactionConflict {
			return true
		}
	}
	return false
}

// IsThrottle reports whether DynamoDB or DAX refused a call for capacity
// (ProvisionedThroughputExceededException, ThrottlingException,
// RequestLimitExceeded, or a transaction cancelled for throttling). The SDK has
// already retried it MaxAttempts times; callers should shed load (shadow traffic
// first, DESIGN.md §6).
func IsThrottle(err error) bool {
	if err == nil {
		return false
	}
	switch apiCode(err) {
	case "ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded":
		return true
	}
	reasons, _ := cancelReasons(err)
	for _, r := range reasons {
		if r == reasonThrottlingError || r == reasonProvisionedThroughput {
			return true
		}
	}
	return false
}

// IsUnsupported reports whether the server does not implement the operation (or a
// feature of it). AWS DynamoDB implements everything hotswap calls; local servers do
// not:
//   - dynalite answers TransactWriteItems, UpdateTimeToLive, UpdateContinuousBackups
//     and others with 400 UnknownOperationException;
//   - moto answers what it lacks with a bare HTTP 500 and an HTML page, which the SDK
//     reports as a deserialization error (after its retries). Real DynamoDB answers
//     every error in JSON, so a 500 that is not JSON is taken as "not implemented";
//   - DAX answers what it does not implement with NotImplemented.
func IsUnsupported(err error) bool {
	if err == nil {
		return false
	}
	switch apiCode(err) {
	case "UnknownOperationException", "NotImplemented":
		return true
	}
	var re *awshttp.ResponseError
	var de *smithy.DeserializationError
	if errors.As(err, &re) && errors.As(err, &de) {
		switch re.HTTPStatusCode() {
		case http.StatusInternalServerError, http.StatusNotImplemented:
			return true
		}
	}
	return false
}

// IsNotFound reports whether the table (or index) a call names does not exist:
// ResourceNotFoundException, or moto's ResourceNotFound (its UpdateTimeToLive).
// A missing item is not an error in DynamoDB: GetItem returns no Item.
func IsNotFound(err error) bool {
	if err == nil {
		return false
	}
	switch apiCode(err) {
	case "ResourceNotFoundException", "ResourceNotFound", "TableNotFoundException":
		return true
	}
	return false
}
