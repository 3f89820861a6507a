// Package stream is the wire format of Hypernest's console, VNC and port-forward streams,
// the same as KubeVirt's: a WebSocket with the "plain.kubevirt.io" subprotocol whose
// binary messages carry the raw bytes of the serial port, the VNC or TCP connection, or
// one UDP datagram each. virtctl speaks it to virt-api, and virt-api to virt-handler.
package stream

import (
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Subprotocol is the WebSocket subprotocol of a plain byte stream.
const Subprotocol = "plain.kubevirt.io"

// CloseTakenOver is the WebSocket close code of a console or VNC stream that a newer
// connection to the same guest replaced (a private-use code, RFC 6455 section 7.4.2): QEMU
// serves its serial port and VNC socket to one client at a time, so the newest wins, as
// in KubeVirt, and the one it replaced learns why it ended instead of reconnecting.
const CloseTakenOver = 4000

// ErrTakenOver is what reading a stream closed with CloseTakenOver returns.
var ErrTakenOver = errors.New("another connection took over the stream: only one may be open at a time")

// bufferSize is each WebSocket buffer; a console line or a VNC update fits, and a larger
// frame is just split.
const bufferSize = 32 * 1024

// Upgrader accepts console and VNC WebSockets.
var Upgrader = websocket.Upgrader{
	ReadBufferSize:  bufferSize,
	WriteBufferSize: bufferSize,
	Subprotocols:    []string{Subprotocol},
	// Callers authenticate with client certificates or bearer tokens, never cookies, so a
	// cross-origin page gains nothing from opening one.
	CheckOrigin: func(*http.Request) bool { return true },
}

// Conn makes a WebSocket an io.ReadWriteCloser of its binary messages.
type Conn struct {
	ws      *websocket.Conn
	reader  io.Reader
	writeMu sync.Mutex
}

// NewConn wraps ws.
func NewConn(ws *websocket.Conn) *Conn { return &Conn{ws: ws} }

// Read reads the next bytes of the stream, across message boundaries.
func (c *Conn) Read(p []byte) (int, error) {
	for {
		if c.reader == nil {
			kind, r, err := c.ws.NextReader()
			if err != nil {
				return 0, closeReason(err)
			}
			if kind != websocket.BinaryMessage && kind != websocket.TextMessage {
				continue
			}
			c.reader = r
		}
		n, err := c.reader.Read(p)
		if errors.Is(err, io.EOF) {
			c.reader = nil
			if n == 0 {
				continue
			}
			err = nil
		}
		return n, err
	}
}

// Write sends p as one binary message.
func (c *Conn) Write(p []byte) (int, error) {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if err := c.ws.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// closeReason turns the peer's close frame into io.EOF (a normal end) or ErrTakenOver.
func closeReason(err error) error {
	var closeErr *websocket.CloseError
	switch {
	case !errors.As(err, &closeErr):
		return err
	case closeErr.Code == websocket.CloseNormalClosure:
		return io.EOF
	case closeErr.Code == CloseTakenOver:
		return ErrTakenOver
	}
	return err
}

// Close says goodbye to the peer, then closes the connection.
func (c *Conn) Close() error { return c.CloseWith(websocket.CloseNormalClosure, "") }

// CloseWith closes the connection telling the peer why, with a close code and text (the
// first close frame is the one the peer reads; later ones are dropped).
func (c *Conn) CloseWith(code int, text string) error {
	c.writeMu.Lock()
	_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, text), time.Now().Add(time.Second))
	c.writeMu.Unlock()
	return c.ws.Close()
}

// ReadMessage reads the next whole binary message: one datagram of a UDP port-forward.
func (c *Conn) ReadMessage() ([]byte, error) {
	c.reader = nil
	for {
		kind, data, err := c.ws.ReadMessage()
		if err != nil {
			return nil, closeReason(err)
		}
		if kind == websocket.BinaryMessage || kind == websocket.TextMessage {
			return data, nil
		}
	}
}

// maxDatagram is the largest UDP payload (65535 less the IPv4 and UDP headers).
const maxDatagram = 65507

// PipeDatagrams is Pipe for UDP: a and b (a connected UDP socket, or a stream of one
// datagram per message) are copied into each other datagram by datagram, never split or
// joined.
func PipeDatagrams(a, b io.ReadWriteCloser) error {
	errs := make(chan error, 2)
	copyOne := func(dst io.Writer, src io.Reader) {
		buf := make([]byte, maxDatagram)
		for {
			datagram, err := ReadDatagram(src, buf)
			if err != nil {
				errs <- err
				return
			}
			if _, err := dst.Write(datagram); err != nil {
				errs <- err
				return
			}
		}
	}
	go copyOne(a, b)
	go copyOne(b, a)
	return settle(a, b, errs)
}

// readDatagram reads one datagram: a whole message of a stream, or what one read of a UDP
// socket returns (always a single datagram).
func ReadDatagram(r io.Reader, buf []byte) ([]byte, error) {
	if c, ok := r.(*Conn); ok {
		return c.ReadMessage()
	}
	n, err := r.Read(buf)
	return buf[:n], err
}

// Pipe copies a and b into each other until either ends, then closes both. It returns the
// first error that is not an ordinary end of stream.
func Pipe(a, b io.ReadWriteCloser) error {
	errs := make(chan error, 2)
	copyOne := func(dst io.Writer, src io.Reader) {
		_, err := io.Copy(dst, src)
		errs <- err
	}
	go copyOne(a, b)
	go copyOne(b, a)
	return settle(a, b, errs)
}

// settle waits for the first of the two copies to end, closes both ends (which ends the
// other copy), and returns the first error that is not an ordinary end of stream. A
// stream taken over on one side is closed as taken over on the other, so virt-api passes
// virt-handler's reason on to virtctl.
func settle(a, b io.Closer, errs <-chan error) error {
	err := <-errs
	for _, c := range []io.Closer{a, b} {
		if ws, ok := c.(*Conn); ok && errors.Is(err, ErrTakenOver) {
			_ = ws.CloseWith(CloseTakenOver, ErrTakenOver.Error())
			continue
		}
		_ = c.Close()
	}
	<-errs
	if err == nil || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway) {
		return nil
	}
	return err
}
