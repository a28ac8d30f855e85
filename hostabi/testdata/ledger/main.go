// Command ledger is a test sender keeping its applied position at its
// destination, an HTTP ledger: Init reads the position (GET /position)
// and reports it; each call posts the idempotency keys of its changes
// and the token of its last commit in one request (POST /commit), which
// the ledger applies atomically. With misuse set it calls
// applied_position outside Init and fails the call with the host's
// answer.
package main

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/pumacdc/puma/sdk"
	"github.com/pumacdc/puma/sdk/http"
)

var cfg struct {
	URL    string `json:"url"`
	Misuse bool   `json:"misuse"`
}

var pending struct {
	Keys     []string `json:"keys"`
	Position string   `json:"position"`
}

func init() {
	sdk.Init(func(raw []byte) error {
		if err := sdk.DecodeConfig(raw, &cfg); err != nil {
			return err
		}
		resp, err := http.Do(&http.Request{Method: "GET", URL: cfg.URL + "/position"})
		if err != nil {
			return err
		}
		if resp.Status != 200 {
			return fmt.Errorf("read position: status %d", resp.Status)
		}
		return sdk.ReportApplied(string(resp.Body))
	})
	sdk.Sender(func(b *sdk.Batch) error {
		if cfg.Misuse {
			return sdk.ReportApplied("")
		}
		for i := range b.Len() {
			pending.Keys = append(pending.Keys, b.Tx().ID+"/"+strconv.Itoa(int(b.Row(i).Seq())))
		}
		if tok, ok := b.Position(); ok {
			pending.Position = tok
		}
		return nil
	})
	sdk.Flush(func() error {
		body, err := json.Marshal(&pending)
		pending.Keys, pending.Position = nil, ""
		if err != nil {
			return err
		}
		resp, err := http.Post(cfg.URL+"/commit", "application/json", body)
		if err != nil {
			return err
		}
		if resp.Status != 200 {
			return fmt.Errorf("commit: status %d", resp.Status)
		}
		return nil
	})
}

func main() {}
