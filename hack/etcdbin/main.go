// Command etcd is etcd's own server entry point, built from the Go module proxy.
// etcd's go.mod carries replace directives, so `go install` of it fails; a
// five-line main in our own module is the documented way round.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
