// Command freeport asks the kernel for free TCP ports on a loopback address
// and prints them, one per line.
//
// All listeners are held open until every port has been obtained, so the
// ports printed are distinct. They are closed before the program exits; a
// caller must bind them promptly (there is an unavoidable small window in
// which another process could take one).
//
//	freeport [-host 127.0.0.1] [-n 1]
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
)

func main() {
	host := flag.String("host", "127.0.0.1", "address to bind")
	n := flag.Int("n", 1, "number of distinct ports to print")
	flag.Parse()

	listeners := make([]net.Listener, 0, *n)
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	for i := 0; i < *n; i++ {
		l, err := net.Listen("tcp", net.JoinHostPort(*host, "0"))
		if err != nil {
			fmt.Fprintln(os.Stderr, "freeport:", err)
			os.Exit(1)
		}
		listeners = append(listeners, l)
	}
	for _, l := range listeners {
		fmt.Println(l.Addr().(*net.TCPAddr).Port)
	}
}
