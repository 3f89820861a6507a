package framework

import (
	"bufio"
	"io"
	"strings"

	"github.com/onsi/gomega/gbytes"
)

// ConsoleBuffer collects what a serial console prints, line by line and without carriage
// returns, into a buffer that gbytes.Say can wait on. It reads until r ends.
func ConsoleBuffer(r io.Reader) *gbytes.Buffer {
	buf := gbytes.NewBuffer()
	go func() {
		lines := bufio.NewReader(r)
		for {
			line, err := lines.ReadString('\n')
			_, _ = buf.Write([]byte(strings.ReplaceAll(line, "\r", "")))
			if err != nil {
				return
			}
		}
	}()
	return buf
}
