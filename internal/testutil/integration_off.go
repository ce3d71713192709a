//go:build !integration

package testutil

// Integration is true in the integration run (make test, CI): a backend that is not
// configured fails the test instead of skipping it.
const Integration = false
