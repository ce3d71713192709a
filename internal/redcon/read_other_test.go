//go:build !linux

package redcon

import (
	"net"
	"testing"
)

const rawReads = false

func queued(*testing.T, net.Conn) int { return 0 }
