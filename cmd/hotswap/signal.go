package main

import (
	"os"
	"os/signal"
	"syscall"
)

// secondSignal calls cancel when another SIGINT or SIGTERM arrives during shutdown.
func secondSignal(cancel func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	<-ch
	signal.Stop(ch)
	cancel()
}
