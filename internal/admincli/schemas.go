package admincli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"os"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	veilv1 "github.com/veil-telemetry/veil/proto/veil/v1"
)

// maxSchemaFile bounds a schema file; the admin listener refuses requests
// over 1 MiB anyway.
const maxSchemaFile = 1 << 20

// readSchemaFile reads a schema document as `veil schema lint` takes it.
func readSchemaFile(path string) (*structpb.Struct, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(b) > maxSchemaFile {
		return nil, fmt.Errorf("%s: %d bytes, over the %d the admin API accepts", path, len(b), maxSchemaFile)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: not a JSON object: %w (veil schema lint %s says more)", path, err, path)
	}
	if err := checkExactNumbers(b); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	doc, err := structpb.NewStruct(m)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return doc, nil
}

// RegisterSchemas registers each file's schema document, in order. Every
// file is read before anything is sent; the first refusal stops the run,
// after printing what was registered before it. The table has one row per
// file; JSON is an array of the API's answers, one per file registered.
func (c *CLI) RegisterSchemas(ctx context.Context, files []string) error {
	if len(files) == 0 {
		return &UsageError{Msg: "give at least one schema file"}
	}
	docs := make([]*structpb.Struct, len(files))
	for i, f := range files {
		d, err := readSchemaFile(f)
		if err != nil {
			return err
		}
		docs[i] = d
	}
	var answers []*veilv1.RegisterSchemaResponse
	var failed error
	for i, d := range docs {
		cctx, cancel := c.call(ctx)
		resp, err := c.schemas.RegisterSchema(cctx, &veilv1.RegisterSchemaRequest{Document: d})
		cancel()
		if err != nil {
			failed = fmt.Errorf("%s: %w", files[i], c.problem(err))
			break
		}
		answers = append(answers, resp)
	}
	if c.cfg.JSON {
		msgs := make([]proto.Message, len(answers))
		for i, a := range answers {
			msgs[i] = a
		}
		if err := writeJSON(c.cfg.Out, true, msgs...); err != nil {
			return err
		}
		return failed
	}
	if len(answers) > 0 {
		t := newTable(c.cfg.Out, "FILE", "NAME", "VERSION", "RESULT")
		for i, a := range answers {
			result := "registered"
			if !a.GetCreated() {
				result = "unchanged (already registered)"
			}
			t.row(files[i], a.GetSchema().GetName(), strconv.Itoa(int(a.GetSchema().GetVersion())), result)
		}
		if err := t.flush(); err != nil {
			return err
		}
	}
	return failed
}

// listPageSize is the page size ListSchemas asks for.
const listPageSize = 200

// maxListPages bounds how many pages ListSchemas follows, so a server
// that keeps answering with a next page cannot keep it looping.
const maxListPages = 10000

// ListSchemas prints every registered schema version, following the
// pages of the listing.
func (c *CLI) ListSchemas(ctx context.Context) error {
	resp := &veilv1.ListSchemasResponse{}
	token := ""
	for range maxListPages {
		page, err := c.listSchemasPage(ctx, token)
		if err != nil {
			return c.problem(err)
		}
		resp.Schemas = append(resp.Schemas, page.GetSchemas()...)
		token = page.GetNextPageToken()
		if token == "" {
			break
		}
	}
	if token != "" {
		return fmt.Errorf("the server kept answering with another page after %d pages", maxListPages)
	}
	if c.cfg.JSON {
		return writeJSON(c.cfg.Out, false, resp)
	}
	t := newTable(c.cfg.Out, "NAME", "VERSION", "GRANULARITY", "RETENTION", "DIMENSIONS", "MEASURES", "REGISTERED", "STATE")
	for _, s := range resp.GetSchemas() {
		t.row(s.GetName(), strconv.Itoa(int(s.GetVersion())), s.GetGranularity(),
			fmt.Sprintf("%dd", s.GetRetentionDays()),
			strings.Join(s.GetDimensions(), ","), strings.Join(s.GetMeasures(), ","),
			timeCell(s.GetCreateTime()), schemaState(s))
	}
	return t.flush()
}

// listSchemasPage fetches one page, each call with its own timeout.
func (c *CLI) listSchemasPage(ctx context.Context, token string) (*veilv1.ListSchemasResponse, error) {
	cctx, cancel := c.call(ctx)
	defer cancel()
	return c.schemas.ListSchemas(cctx, &veilv1.ListSchemasRequest{PageSize: listPageSize, PageToken: token})
}

// GetSchema prints one schema version's document as registered (a file
// `schemas register` takes back); JSON is the API's answer, with the
// version's other attributes.
func (c *CLI) GetSchema(ctx context.Context, name, version string) error {
	v, err := strconv.ParseInt(version, 10, 32)
	if err != nil || v < 1 {
		return &UsageError{Msg: fmt.Sprintf("version %q: give a positive integer", version)}
	}
	cctx, cancel := c.call(ctx)
	defer cancel()
	resp, err := c.schemas.GetSchema(cctx, &veilv1.GetSchemaRequest{Name: name, Version: int32(v)})
	if err != nil {
		return c.problem(err)
	}
	if c.cfg.JSON {
		return writeJSON(c.cfg.Out, false, resp)
	}
	return writeJSON(c.cfg.Out, false, resp.GetDocument())
}

// SetSchemaDisabled disables or enables one schema version and prints its
// new state.
func (c *CLI) SetSchemaDisabled(ctx context.Context, name, version string, disabled bool) error {
	v, err := strconv.ParseInt(version, 10, 32)
	if err != nil || v < 1 {
		return &UsageError{Msg: fmt.Sprintf("version %q: give a positive integer", version)}
	}
	cctx, cancel := c.call(ctx)
	defer cancel()
	var resp *veilv1.Schema
	if disabled {
		resp, err = c.schemas.DisableSchema(cctx, &veilv1.DisableSchemaRequest{Name: name, Version: int32(v)})
	} else {
		resp, err = c.schemas.EnableSchema(cctx, &veilv1.EnableSchemaRequest{Name: name, Version: int32(v)})
	}
	if err != nil {
		return c.problem(err)
	}
	if c.cfg.JSON {
		return writeJSON(c.cfg.Out, false, resp)
	}
	_, err = fmt.Fprintf(c.cfg.Out, "%s v%d: %s\n", resp.GetName(), resp.GetVersion(), schemaState(resp))
	return err
}

func schemaState(s *veilv1.Schema) string {
	if s.GetDisabled() {
		return "disabled"
	}
	return "enabled"
}

// ErrInexactNumber reports a schema number that the gRPC API cannot carry
// as written.
var ErrInexactNumber = errors.New("a number cannot be sent exactly")

// checkExactNumbers refuses a document holding a number that no float64
// denotes. The gRPC API carries documents as google.protobuf.Struct, whose
// numbers are float64: 9999999999999999999 would be registered as
// 10000000000000000000, a schema other than the file. REST keeps numbers
// exact, so the message points there.
func checkExactNumbers(doc []byte) error {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil // the document parsed above; nothing more to check
		}
		if n, ok := tok.(json.Number); ok {
			if _, exact := float64Exact(n); !exact {
				f, _ := n.Float64()
				sent, _ := json.Marshal(f) // as the server stores it
				return fmt.Errorf("%w: %s would be registered as %s, since the gRPC API carries numbers as 64-bit floats; "+
					"write a number a float64 holds exactly, or register the file over REST (POST /v1/schemas keeps numbers exact)",
					ErrInexactNumber, n, sent)
			}
		}
	}
}

// float64Exact reports whether n denotes exactly the value of a float64
// (internal/schema.Float64Exact, which admincli may not import: DESIGN.md
// keeps it to the API). An exponent past ±400 is never exact and is not
// compared, so big.Rat builds no huge power of ten.
func float64Exact(n json.Number) (float64, bool) {
	s := string(n)
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) {
		return 0, false
	}
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		e, err := strconv.Atoi(strings.TrimPrefix(s[i+1:], "+"))
		if err != nil || e > 400 || e < -400 {
			return 0, false
		}
	}
	r, ok := new(big.Rat).SetString(s)
	fr := new(big.Rat)
	if !ok || fr.SetFloat64(f) == nil {
		return 0, false
	}
	return f, fr.Cmp(r) == 0
}
