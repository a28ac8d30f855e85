package sdk

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// DecodeConfig decodes a plugin's config (the JSON object Init receives)
// into v strictly: a key v has no field for is an error naming it, so a
// misspelt option is reported instead of ignored. It runs once per
// instance, so it may use encoding/json; per-row code should not.
func DecodeConfig(config []byte, v any) error {
	if len(config) == 0 {
		config = []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(config))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if dec.More() {
		return errors.New("config: trailing data after the object")
	}
	return nil
}
