package sdk_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/veil-telemetry/veil/sdk"
)

// A RelayURL with a wrong path: the key document is not found. OnError
// says so, with the URL; the Client keeps the event queued and retries.
func ExampleConfig_onError() {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()

	failed := make(chan *sdk.DeliveryError, 100)
	c, err := sdk.New(sdk.Config{
		RelayURL:       srv.URL + "/wrong/gateway",
		MaxBatchEvents: 1, // send each event at once
		OnError: func(err error) {
			if de, ok := errors.AsType[*sdk.DeliveryError](err); ok {
				failed <- de
			}
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	c.Record(context.Background(), "app.launch", 1, map[string]any{"os": "ios"})
	de := <-failed
	fmt.Println(de.Op, de.Status, de.URL == srv.URL+"/ohttp-keys")
	fmt.Println("fix the configuration:", errors.Is(de, sdk.ErrKeysRefused))
	fmt.Println("still queued:", c.Stats().Queued)

	// Give up without waiting (an app would keep the Client running).
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	c.Close(ended)
	// Output:
	// fetch keys 404 true
	// fix the configuration: true
	// still queued: 1
}
