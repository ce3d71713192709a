//go:build !linux

package rawio

import "errors"

const supported = false

// ReadFD is only implemented on Linux; elsewhere New returns nil and callers use
// plain reads.
func ReadFD(int, []byte) (int, error) { return 0, errors.ErrUnsupported }

func writeFD(int, []byte) (int, error) { return 0, errors.ErrUnsupported }

// Queued is only implemented on Linux.
func Queued(int) (int, error) { return 0, errors.ErrUnsupported }
