package translate

// hashHandlers are the hash commands (HSET, HGETALL, ...). See hashes_test.go.
var hashHandlers = []handlerEntry{}
