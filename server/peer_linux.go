package server

import "syscall"

// peerClosed reports whether the peer has closed the connection: a peek
// that finds the end of the stream. Nothing is read (a request the client
// sent next stays for the server).
func peerClosed(raw syscall.RawConn) bool {
	var buf [1]byte
	closed := false
	raw.Read(func(fd uintptr) bool {
		n, _, err := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		closed = n == 0 && err == nil
		return true // never wait for data
	})
	return closed
}
