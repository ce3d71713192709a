//go:build linux

package rawio

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

const supported = true

// ReadFD is read(2) on a non-blocking descriptor, as a raw system call (see the
// package documentation), retried on EINTR. p must not be empty.
func ReadFD(fd int, p []byte) (int, error) { return rawRW(syscall.SYS_READ, fd, p) }

func writeFD(fd int, p []byte) (int, error) { return rawRW(syscall.SYS_WRITE, fd, p) }

// rawRW is read(2) or write(2) (trap) of p as a raw system call, retried on EINTR.
func rawRW(trap uintptr, fd int, p []byte) (int, error) {
	for {
		r, _, e := syscall.RawSyscall(trap, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
		switch e {
		case 0:
			return int(r), nil
		case syscall.EINTR:
			continue
		default:
			return 0, e
		}
	}
}

// Queued returns how many bytes the socket fd holds unread (ioctl FIONREAD, which is
// SIOCINQ for sockets), as a raw system call.
func Queued(fd int) (int, error) {
	var n int32
	_, _, e := syscall.RawSyscall(syscall.SYS_IOCTL, uintptr(fd), unix.SIOCINQ, uintptr(unsafe.Pointer(&n)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}
