package stream

import (
	"bytes"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

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
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		udp, err := net.Dial("udp", echo.LocalAddr().String())
		if err != nil {
			t.Error(err)
			return
		}
		ws, err := Upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		_ = PipeDatagrams(NewConn(ws), udp)
	}))
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
