package stream

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// pipeServer serves WebSockets as virt-api and virt-handler do: for each, it opens the
// backend, then relays the two with pipe; what pipe returns arrives on the channel.
func pipeServer(t *testing.T, backend func() (io.ReadWriteCloser, error), pipe func(a, b io.ReadWriteCloser) error) (*httptest.Server, <-chan error) {
	ended := make(chan error, 16)
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := backend()
		if err != nil {
			t.Error(err)
			return
		}
		ws, err := Upgrader.Upgrade(w, r, nil)
		if err != nil {
			_ = conn.Close()
			return
		}
		ended <- pipe(NewConn(ws), conn)
	}))
	return server, ended
}

// A UDP port-forward keeps datagrams whole both ways, also those larger than a WebSocket
// buffer: a local UDP echo server behind PipeDatagrams, reached through a real WebSocket.
func TestPipeDatagramsKeepsDatagramsWhole(t *testing.T) {
	echo, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	go func() {
		buf := make([]byte, maxDatagram)
		for {
			n, from, err := echo.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = echo.WriteTo(buf[:n], from)
		}
	}()
	server, _ := pipeServer(t, func() (io.ReadWriteCloser, error) { return net.Dial("udp", echo.LocalAddr().String()) }, PipeDatagrams)
	defer server.Close()

	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(server.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	client := NewConn(ws)
	defer client.Close()
	for _, size := range []int{1, 40000, 512} {
		sent := bytes.Repeat([]byte{byte(size)}, size)
		if _, err := client.Write(sent); err != nil {
			t.Fatal(err)
		}
		_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		got, err := ReadDatagram(client, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, sent) {
			t.Errorf("sent a %d-byte datagram, got %d bytes back", size, len(got))
		}
	}
}

// A stream taken over at its far end (virt-handler, when a newer console connects) ends
// as taken over at the near end too, through a relay in the middle (virt-api): the
// client reads what came before, then ErrTakenOver, not a plain end of stream.
func TestPipePassesTakeOverOn(t *testing.T) {
	url := func(s *httptest.Server) string { return "ws" + strings.TrimPrefix(s.URL, "http") }
	handler := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := Upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		conn := NewConn(ws)
		_, _ = conn.Write([]byte("login: "))
		_ = conn.CloseWith(CloseTakenOver, "a newer console connected")
	}))
	defer handler.Close()
	relay, relayEnded := pipeServer(t, func() (io.ReadWriteCloser, error) {
		backend, _, err := websocket.DefaultDialer.Dial(url(handler), nil)
		if err != nil {
			return nil, err
		}
		return NewConn(backend), nil
	}, Pipe)
	defer relay.Close()

	ws, _, err := websocket.DefaultDialer.Dial(url(relay), nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	var out bytes.Buffer
	_, err = io.Copy(&out, NewConn(ws))
	if !errors.Is(err, ErrTakenOver) {
		t.Errorf("the client's stream ended with %v, want ErrTakenOver", err)
	}
	if out.String() != "login: " {
		t.Errorf("the client read %q before the end, want %q", out.String(), "login: ")
	}
	if err := <-relayEnded; !errors.Is(err, ErrTakenOver) {
		t.Errorf("the relay's Pipe returned %v, want ErrTakenOver", err)
	}
}
