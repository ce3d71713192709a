package translate

// setHandlers are the set commands (SADD, SMEMBERS, ...). See sets_test.go.
var setHandlers = []handlerEntry{}
