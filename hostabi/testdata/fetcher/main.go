// Command fetcher is a test sender: on each batch it makes the HTTP
// request its config describes and succeeds only on a 200, reporting
// anything else (a refusal, another status and its Location) as its
// error. With hmac set it signs the body with that secret into X-Sig.
package main

import (
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/pumacdc/puma/sdk"
	"github.com/pumacdc/puma/sdk/http"
	"github.com/pumacdc/puma/sdk/secrets"
)

var cfg struct {
	Method  string `json:"method"`
	URL     string `json:"url"`
	Body    string `json:"body"`
	HMAC    string `json:"hmac"`
	Headers []struct {
		Name   string `json:"name"`
		Value  string `json:"value"`
		Secret string `json:"secret"`
	} `json:"headers"`
}

func init() {
	sdk.Init(func(raw []byte) error { return sdk.DecodeConfig(raw, &cfg) })
	sdk.Sender(func(*sdk.Batch) error {
		req := &http.Request{Method: cfg.Method, URL: cfg.URL, Body: []byte(cfg.Body)}
		for _, h := range cfg.Headers {
			req.Header = append(req.Header, http.Header{Name: h.Name, Value: h.Value, Secret: h.Secret})
		}
		if cfg.HMAC != "" {
			mac, err := secrets.HMACSHA256(cfg.HMAC, req.Body)
			if err != nil {
				return err
			}
			req.Header = append(req.Header, http.Header{Name: "X-Sig", Value: hex.EncodeToString(mac)})
		}
		resp, err := http.Do(req)
		if err != nil {
			if errors.Is(err, http.ErrDenied) {
				return sdk.Fatal(fmt.Errorf("denied: %w", err))
			}
			return err
		}
		if resp.Status != 200 {
			return fmt.Errorf("status %d location %q body %q", resp.Status, resp.Get("Location"), resp.Body)
		}
		return nil
	})
}

func main() {}
