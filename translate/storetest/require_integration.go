//go:build integration

package storetest

// requireServers: under the integration tag (CI, make test) a missing server is a
// failure, not a skip.
const requireServers = true
