package translate

// stringHandlers are the string commands (GET, SET, INCR, ...). See strings_test.go.
var stringHandlers = []handlerEntry{}
