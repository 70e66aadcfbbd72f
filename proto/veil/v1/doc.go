// Package veilv1 holds veil's protobuf API: the IngestService reached only
// through Oblivious HTTP, and the SchemaService, KeyService and QueryService
// of the admin plane, with their generated gRPC, grpc-gateway and OpenAPI
// code. Regenerate with scripts/gen-proto; TestGeneratedCodeIsFresh fails
// when the committed output is stale.
package veilv1

import _ "embed"

// OpenAPI is the OpenAPI (v2) description of every REST mapping, served on
// the admin listener.
//
//go:embed veil.swagger.json
var OpenAPI []byte
