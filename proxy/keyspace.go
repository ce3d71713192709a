package proxy

import (
	"github.com/tidwall/redcon"

	"hotswap/proxy/command"
)

// keyspaceCmd runs the commands over the whole keyspace (SCAN, KEYS, DBSIZE,
// RANDOMKEY, FLUSHDB, FLUSHALL) across Redis and DynamoDB when an engine is
// configured. It returns false when the command goes to Redis as it is.
func (ss *session) keyspaceCmd(c redcon.Conn, cmd redcon.Command, info *command.Info) bool {
	return false
}
