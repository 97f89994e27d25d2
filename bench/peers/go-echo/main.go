// go-echo: the echo server a Go programmer would write, for `make bench` to compare against:
// crypto/tls from the standard library, a goroutine per connection, io.Copy.
//
// usage: go-echo -cert CERT -key KEY [-plaintext] [-host 127.0.0.1] [-port 0]
// Prints "listening on HOST:PORT" once it accepts connections.
package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
)

func main() {
	cert := flag.String("cert", "", "PEM certificate chain")
	key := flag.String("key", "", "PEM private key")
	plaintext := flag.Bool("plaintext", false, "serve plaintext TCP")
	host := flag.String("host", "127.0.0.1", "address to listen on")
	port := flag.Int("port", 0, "port (0: any free port)")
	flag.Parse()

	address := net.JoinHostPort(*host, fmt.Sprint(*port))
	var listener net.Listener
	var err error
	if *plaintext {
		listener, err = net.Listen("tcp", address)
	} else {
		pair, loadErr := tls.LoadX509KeyPair(*cert, *key)
		if loadErr != nil {
			log.Fatalf("go-echo: %v", loadErr)
		}
		config := &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
		listener, err = tls.Listen("tcp", address, config)
	}
	if err != nil {
		log.Fatalf("go-echo: %v", err)
	}
	fmt.Printf("listening on %s\n", listener.Addr())
	os.Stdout.Sync()
	for {
		conn, err := listener.Accept()
		if err != nil {
			log.Printf("go-echo: accept: %v", err)
			continue
		}
		go func(conn net.Conn) {
			defer conn.Close()
			io.Copy(conn, conn)
		}(conn)
	}
}
