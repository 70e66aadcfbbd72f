package ohttp_test

import (
	"fmt"

	"github.com/veil-telemetry/veil/ohttp"
)

// A full exchange: the gateway publishes its key configs, the client
// encapsulates a Binary HTTP request to one of them, the gateway decapsulates
// it and encapsulates the answer, and the client reads the answer.
func Example() {
	// Gateway: generate a key (nil randomness means crypto/rand) and
	// publish application/ohttp-keys.
	key, err := ohttp.GenerateKey(nil, 1, ohttp.KEMX25519, []ohttp.SymmetricSuite{ohttp.DefaultSuite})
	if err != nil {
		panic(err)
	}
	keys, err := ohttp.MarshalKeyConfigs([]*ohttp.KeyConfig{&key.Config})
	if err != nil {
		panic(err)
	}

	// Client: parse the keys and encapsulate a request.
	cfgs, err := ohttp.ParseKeyConfigs(keys)
	if err != nil {
		panic(err)
	}
	bhttpRequest := []byte("\x00\x03GET\x05https\x0bexample.com\x01/")
	encReq, client, err := ohttp.EncapsulateRequest(nil, cfgs[0], ohttp.DefaultSuite, bhttpRequest)
	if err != nil {
		panic(err)
	}

	// Gateway: parse, decapsulate, answer.
	req, err := ohttp.ParseEncapsulatedRequest(encReq)
	if err != nil {
		panic(err) // 400
	}
	inner, server, err := key.DecapsulateRequest(req)
	if err != nil {
		panic(err) // 422 with the ohttp-key problem type
	}
	fmt.Printf("gateway got %q\n", inner)
	encRes, err := server.EncapsulateResponse(nil, []byte("\x01\x40\xc8"))
	if err != nil {
		panic(err)
	}

	// Client: read the answer.
	res, err := client.DecapsulateResponse(encRes)
	if err != nil {
		panic(err)
	}
	fmt.Printf("client got %x (%d bytes on the wire)\n", res, len(encRes))
	// Output:
	// gateway got "\x00\x03GET\x05https\vexample.com\x01/"
	// client got 0140c8 (35 bytes on the wire)
}
