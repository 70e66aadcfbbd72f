// Package admincli is `veil admin`: an operator's client for the admin
// listener of `veil serve`, over gRPC. It loads the bearer token, dials
// the listener (h2c, or TLS for an https:// address), runs one call per
// command, and prints the answer as a table for people or, with JSON set,
// as exactly one JSON document (the API's answer in protojson, as the REST
// API writes it). Errors name the problem's title, its detail and each
// lint finding, never a raw status.
//
// cmd/veil wires cobra flags to Config and to one method per command.
package admincli
