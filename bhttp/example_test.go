package bhttp_test

import (
	"fmt"
	"log"

	"github.com/veil-telemetry/veil/bhttp"
)

func Example() {
	req := &bhttp.Request{
		Method:    "POST",
		Scheme:    "https",
		Authority: "collector.example",
		Path:      "/v1/events",
		Header: []bhttp.Field{
			{Name: "Content-Type", Value: "application/json"},
			{Name: "Date", Value: "Tue, 21 Nov 2028 08:32:00 GMT"},
		},
		Content: []byte(`{"events":[]}`),
	}
	// Marshal sends the conservative form: known-length, untruncated.
	b, err := req.Marshal()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d bytes, framing indicator %d\n", len(b), b[0])

	// The decoder accepts every RFC 9292 form; names come back lowercase.
	got, err := bhttp.UnmarshalRequest(b)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(got.Method, got.Scheme+"://"+got.Authority+got.Path)
	for _, f := range got.Header {
		fmt.Printf("%s: %s\n", f.Name, f.Value)
	}
	fmt.Printf("%s\n", got.Content)
	// Output:
	// 123 bytes, framing indicator 0
	// POST https://collector.example/v1/events
	// content-type: application/json
	// date: Tue, 21 Nov 2028 08:32:00 GMT
	// {"events":[]}
}

func ExampleMarshalOptions() {
	resp := &bhttp.Response{StatusCode: 200}
	truncated, _ := bhttp.MarshalOptions{Truncate: true}.MarshalResponse(resp)
	padded, _ := bhttp.MarshalOptions{Indeterminate: true, Padding: 4}.MarshalResponse(resp)
	full, _ := resp.Marshal()
	fmt.Printf("%x\n%x\n%x\n", truncated, padded, full)
	// Output:
	// 0140c8
	// 0340c800000000000000
	// 0140c8000000
}
