// Package admin is veil's admin plane: the SchemaService, KeyService and
// QueryService over gRPC and REST on one listener, bearer-token auth, RFC
// 9457 problem errors mapped from one error Kind, Prometheus metrics on an
// injected registry, health and readiness, the OpenAPI document and a small
// server-rendered dashboard.
//
// Its error handler and mux options are also used for the public ingest
// mux that the gateway dispatches to, so every REST error veil sends has
// the same shape.
package admin
