package loadgen

import (
	"bytes"
	"encoding/json"
)

// jsonUnmarshalNumbers decodes numbers as json.Number turned into int64
// where whole, as the ingest pipeline presents them to schema.Check.
func jsonUnmarshalNumbers(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		return err
	}
	return nil
}
