// Package admin is veil's admin plane: the SchemaService, KeyService and
// QueryService over gRPC and REST on one listener, bearer-token auth, RFC
// 9457 problem errors mapped from one error kind (package problem, the
// same model as every veil API), Prometheus metrics on an injected
// registry, health and readiness, the OpenAPI document and a small
// server-rendered dashboard.
package admin
