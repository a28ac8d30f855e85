//go:build wasip1

package amqp

import (
	"unsafe"

	"github.com/pumacdc/puma/sdk/internal/host"
)

//go:wasmimport puma amqp_publish
//go:noescape
func amqpPublish(ptr unsafe.Pointer, n uint32) int64

//go:wasmimport puma amqp_declare
//go:noescape
func amqpDeclare(ptr unsafe.Pointer, n uint32) int32

func publish(target string, msg []byte) error {
	if rc := amqpPublish(unsafe.Pointer(unsafe.SliceData(msg)), uint32(len(msg))); rc < 0 {
		return host.Fail("amqp: publish to "+target, rc)
	}
	return nil
}

func declare(msg []byte) error {
	if rc := amqpDeclare(unsafe.Pointer(unsafe.SliceData(msg)), uint32(len(msg))); rc < 0 {
		return host.Fail("amqp: declare", int64(rc))
	}
	return nil
}
