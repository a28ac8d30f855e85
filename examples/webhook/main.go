// Command webhook is an example custom sink: it POSTs each batch to a
// webhook as a JSON array of change envelopes (the envelope builtin:jsonl
// writes), signed with HMAC-SHA256. The key is a secret from puma.toml's
// [secrets]: the plugin names it, the host computes the signature, and the
// key never enters the plugin.
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o webhook.wasm ./examples/webhook
//
//	[secrets]
//	webhook_hmac_env = "PUMA_WEBHOOK_HMAC"
//
//	[[task.sender]]
//	plugin = "webhook.wasm"
//	config = { url = "https://hooks.example.com/puma", secret = "webhook_hmac" }
//	grants = { http = ["https://hooks.example.com/puma"], secrets = ["webhook_hmac"] }
//
// The request carries X-Puma-Signature: sha256=<hex HMAC of the body>.
// A 2xx answer acknowledges the batch; 408, 429 and 5xx (and a failed
// connection) are retried by Puma with backoff; any other status stops
// the task, since sending the same batch again would get the same answer.
package main

import (
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/pumacdc/puma/sdk"
	"github.com/pumacdc/puma/sdk/envelope"
	"github.com/pumacdc/puma/sdk/http"
	"github.com/pumacdc/puma/sdk/secrets"
)

var cfg struct {
	URL    string `json:"url"`
	Secret string `json:"secret"`
}

var enc = envelope.Encoder{Array: true}

func init() {
	sdk.Init(func(raw []byte) error {
		if err := sdk.DecodeConfig(raw, &cfg); err != nil {
			return err
		}
		if cfg.URL == "" || cfg.Secret == "" {
			return errors.New("config: url and secret are required")
		}
		return nil
	})
	sdk.Sender(send)
}

func send(b *sdk.Batch) error {
	body := enc.Encode(b)
	if len(body) == 0 {
		return nil // nothing but a position: nothing to post
	}
	mac, err := secrets.HMACSHA256(cfg.Secret, body)
	if err != nil {
		return sdk.Fatal(err)
	}
	resp, err := http.Post(cfg.URL, "application/json", body,
		http.Header{Name: "X-Puma-Signature", Value: "sha256=" + hex.EncodeToString(mac)})
	if errors.Is(err, http.ErrDenied) || errors.Is(err, http.ErrLimit) {
		return sdk.Fatal(err) // the grant or a limit refuses it: retrying will not help
	}
	if err != nil {
		return err
	}
	switch s := resp.Status; {
	case s >= 200 && s < 300:
		return nil
	case s == 408 || s == 429 || s >= 500:
		return fmt.Errorf("webhook: %s answered %d", cfg.URL, s)
	default:
		return sdk.Fatal(fmt.Errorf("webhook: %s answered %d: %.200s", cfg.URL, s, resp.Body))
	}
}

func main() {}
