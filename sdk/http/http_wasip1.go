//go:build wasip1

package http

import (
	"errors"
	"unsafe"

	"github.com/pumacdc/puma/hostabi/wire"
	"github.com/pumacdc/puma/sdk/internal/host"
)

//go:wasmimport puma http_request
//go:noescape
func httpRequest(ptr unsafe.Pointer, n uint32) int64

//go:wasmimport puma http_response
//go:noescape
func httpResponse(ptr unsafe.Pointer, n uint32) int32

var msg, resp []byte

func do(q *wire.HTTPRequest) (*wire.HTTPResponse, error) {
	msg = wire.AppendHTTPRequest(msg[:0], q)
	n := httpRequest(unsafe.Pointer(unsafe.SliceData(msg)), uint32(len(msg)))
	if n < 0 {
		return nil, host.Fail("http: "+q.Method+" "+q.URL, n)
	}
	if int64(cap(resp)) < n {
		resp = make([]byte, n)
	}
	resp = resp[:n]
	if got := httpResponse(unsafe.Pointer(unsafe.SliceData(resp)), uint32(n)); int64(got) != n {
		return nil, errors.New("http: the host's response changed size")
	}
	r, err := wire.ParseHTTPResponse(resp)
	if err != nil {
		return nil, errors.New("http: malformed response message " + err.Error())
	}
	return &r, nil
}
