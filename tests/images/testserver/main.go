// Command testserver is the workload of the functional tests: a static binary with no
// distribution underneath, so the test image builds offline and deterministically.
//
//	testserver serve [addr]       HTTP server answering "hello from <hostname>" (default :8080)
//	testserver get <url>          HTTP GET, body to stdout; with a service-account token
//	                              mounted, https URLs use it and the pod's CA
//	testserver resolve <name>     DNS lookup, addresses to stdout
//	testserver open <path>...     open each path, read-write unless a folder (device and
//	                              hostPath access checks)
//	testserver echo <words>...    print the words (kubectl exec checks)
package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

const serviceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"

func main() {
	if len(os.Args) < 2 {
		fail("usage: testserver serve|get|resolve|open|echo ...")
	}
	args := os.Args[2:]
	switch os.Args[1] {
	case "serve":
		addr := ":8080"
		if len(args) > 0 {
			addr = args[0]
		}
		serve(addr)
	case "get":
		need(args, 1)
		get(args[0])
	case "resolve":
		need(args, 1)
		addrs, err := net.LookupHost(args[0])
		if err != nil {
			fail(err.Error())
		}
		fmt.Println(strings.Join(addrs, "\n"))
	case "open":
		need(args, 1)
		for _, p := range args {
			flag := os.O_RDWR
			if fi, err := os.Stat(p); err == nil && fi.IsDir() {
				flag = os.O_RDONLY
			}
			f, err := os.OpenFile(p, flag, 0)
			if err != nil {
				fail(err.Error())
			}
			f.Close()
			fmt.Printf("opened %s\n", p)
		}
	case "echo":
		fmt.Println(strings.Join(args, " "))
	default:
		fail("unknown command " + os.Args[1])
	}
}

func serve(addr string) {
	host, _ := os.Hostname()
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from %s\n", host)
	})
	fmt.Printf("serving on %s\n", addr)
	if err := http.ListenAndServe(addr, nil); err != nil {
		fail(err.Error())
	}
}

func get(url string) {
	client := &http.Client{Timeout: 10 * time.Second}
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		fail(err.Error())
	}
	if strings.HasPrefix(url, "https://") {
		if token, err := os.ReadFile(serviceAccountDir + "/token"); err == nil {
			req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
		}
		if ca, err := os.ReadFile(serviceAccountDir + "/ca.crt"); err == nil {
			pool := x509.NewCertPool()
			pool.AppendCertsFromPEM(ca)
			client.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
		}
	}
	resp, err := client.Do(req)
	if err != nil {
		fail(err.Error())
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Printf("%d %s", resp.StatusCode, body)
	if resp.StatusCode >= 400 {
		os.Exit(1)
	}
}

func need(args []string, n int) {
	if len(args) < n {
		fail("missing argument")
	}
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "testserver: "+msg)
	os.Exit(1)
}
