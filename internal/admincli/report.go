package admincli

import (
	"context"
	"fmt"
	"io"

	veilv1 "github.com/veil-telemetry/veil/proto/veil/v1"
)

// Report prints the privacy report in format (markdown, html or json),
// exactly as the server generated it.
func (c *CLI) Report(ctx context.Context, format string) error {
	switch format {
	case "", "markdown", "html", "json":
	default:
		return &UsageError{Msg: "--format: must be markdown, html or json"}
	}
	cctx, cancel := c.call(ctx)
	defer cancel()
	doc, err := c.query.GetPrivacyReport(cctx, &veilv1.GetPrivacyReportRequest{Format: format})
	if err != nil {
		return c.problem(err)
	}
	_, err = io.WriteString(c.cfg.Out, doc.GetBody())
	return err
}

// Export prints the released cells of a schema version as CSV.
func (c *CLI) Export(ctx context.Context, schemaName string, version int, format string) error {
	if schemaName == "" || version <= 0 {
		return &UsageError{Msg: "--schema and a positive --version are required"}
	}
	if format != "" && format != "csv" {
		return &UsageError{Msg: "--format: must be csv"}
	}
	cctx, cancel := c.call(ctx)
	defer cancel()
	doc, err := c.query.ExportReleases(cctx, &veilv1.ExportReleasesRequest{Schema: schemaName, Version: int32(version), Format: format})
	if err != nil {
		return c.problem(err)
	}
	_, err = fmt.Fprint(c.cfg.Out, doc.GetBody())
	return err
}
