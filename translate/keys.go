package translate

// keyHandlers are the generic key commands (DEL, EXISTS, EXPIRE, TTL, RENAME, ...).
// See keys_test.go.
var keyHandlers = []handlerEntry{}
