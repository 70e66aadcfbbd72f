package schema_test

import (
	"fmt"

	"github.com/veil-telemetry/veil/internal/schema"
)

func Example() {
	s, err := schema.Compile([]byte(`{
	  "$schema": "https://json-schema.org/draft/2020-12/schema",
	  "x-veil": {"name": "app.launch", "version": 1},
	  "type": "object",
	  "additionalProperties": false,
	  "required": ["os"],
	  "properties": {
	    "os":            {"enum": ["android", "ios"], "x-veil-role": "dimension"},
	    "note":          {"type": "string", "pattern": "^[a-z_]*$", "maxLength": 64, "x-veil-role": "dimension"},
	    "cold_start_ms": {"type": "integer", "minimum": 0, "maximum": 600000, "x-veil-role": "measure"}
	  }
	}`))
	if err != nil {
		panic(err)
	}
	fmt.Println(s.Check(map[string]any{"os": "ios", "cold_start_ms": 420.0}))
	fmt.Println(s.Check(map[string]any{"os": "ios", "note": "call +1 415 555 2671"}).Reason)
	fmt.Println(s.Check(map[string]any{"os": "ios", "cold_start_ms": 1e9}).Reason)
	dims, measures, _ := s.CheckSplit([]schema.Field{
		{Name: "os", Type: schema.TypeString, Text: "ios"},
		{Name: "cold_start_ms", Type: schema.TypeNumber, Text: "420"},
	})
	fmt.Println(dims, measures)
	// Output:
	// <nil>
	// identifier_phone
	// field_out_of_range
	// map[os:ios] map[cold_start_ms:420]
}

func ExampleLint() {
	for _, f := range schema.Lint([]byte(`{
	  "x-veil": {"name": "signup", "version": 1},
	  "type": "object",
	  "additionalProperties": false,
	  "properties": {
	    "userEmail": {"type": "string", "x-veil-role": "dimension"}
	  }
	}`)) {
		fmt.Println(f)
	}
	// Output:
	// userEmail: identifying_name: the name looks identifying (email); veil stores no identifiers
	// userEmail: unbounded_string: a string dimension needs an enum, or a pattern with maxLength ≤ 128
}

func ExampleDetect() {
	for _, v := range []string{"10.0.19045", "en-US", "GB82 WEST 1234 5698 7654 32", "fe80::1%en0"} {
		kind, ok := schema.Detect(v)
		fmt.Printf("%s → %q %v\n", v, kind, ok)
	}
	// Output:
	// 10.0.19045 → "" false
	// en-US → "" false
	// GB82 WEST 1234 5698 7654 32 → "iban" true
	// fe80::1%en0 → "ipv6" true
}
