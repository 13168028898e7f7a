//go:build tools

// Package tools pins the Traefik command this builder compiles. It is never built;
// the blank import only keeps `go mod tidy` from dropping Traefik's requirements.
// `go build github.com/traefik/traefik/v3/cmd/traefik` inside this module uses them.
package tools

import _ "github.com/traefik/traefik/v3/cmd/traefik"
