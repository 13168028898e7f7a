//go:build tools

// Package tools pins the Kubernetes control-plane commands this builder compiles.
// It is never built; `go build` of the listed main packages uses these requirements.
package tools
