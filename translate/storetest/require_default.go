//go:build !integration

package storetest

// requireServers: without the integration tag, tests skip when a server is missing.
const requireServers = false
