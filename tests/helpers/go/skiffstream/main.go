// skiffstream is an independent client for Skiff's CRI streaming server, built on the
// libraries kubelet and kubectl use (moby/spdystream, gorilla/websocket), so the tests
// talk to the server the way Kubernetes does rather than through Skiff's own code.
//
//	skiffstream spdy-exec -url URL [-stdin] [-stdout] [-stderr] [-tty] [-resize WxH] -result FILE
//	skiffstream ws-exec   -url URL [-protocol P] ...
//	skiffstream spdy-pf   -url URL -port N -result FILE
//	skiffstream ws-pf     -url URL -port N -result FILE
//
// Stdin is copied to the remote stdin, remote stdout/stderr to this process's. The result
// file gets a JSON summary: the negotiated protocol, the HTTP status of a refused upgrade,
// the error-stream text and byte counts.
package main

import (
	"bufio"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/docker/spdystream"
	"github.com/gorilla/websocket"
)

type result struct {
	Protocol    string `json:"protocol"`
	HTTPStatus  int    `json:"httpStatus"`
	Body        string `json:"body"`
	Error       string `json:"error"`
	StdoutBytes int64  `json:"stdoutBytes"`
	StderrBytes int64  `json:"stderrBytes"`
	Transport   string `json:"transport"`
}

var (
	rawURL     = flag.String("url", "", "streaming URL")
	protocols  = flag.String("protocols", "", "comma-separated protocols to offer")
	useStdin   = flag.Bool("stdin", false, "send stdin")
	useStdout  = flag.Bool("stdout", false, "receive stdout")
	useStderr  = flag.Bool("stderr", false, "receive stderr")
	tty        = flag.Bool("tty", false, "terminal session")
	resize     = flag.String("resize", "", "terminal size WxH to send first")
	stdinDelay = flag.Duration("stdin-delay", 0, "wait this long before sending stdin")
	hold       = flag.Duration("hold", 0, "after the upgrade, open no streams and wait this long")
	discard    = flag.Bool("discard", false, "count stdout instead of copying it")
	throttle   = flag.Float64("throttle", 0, "read stdout at most this many MB/s (a slow client)")
	port       = flag.Int("port", 0, "port to forward")
	resultFile = flag.String("result", "", "where to write the JSON result")
	method     = flag.String("method", "POST", "HTTP method for the SPDY upgrade")
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: skiffstream spdy-exec|ws-exec|spdy-pf|ws-pf [flags]")
		os.Exit(2)
	}
	mode := os.Args[1]
	flag.CommandLine.Parse(os.Args[2:])
	var res result
	var err error
	switch mode {
	case "spdy-exec":
		err = spdyExec(&res)
	case "ws-exec":
		err = wsExec(&res)
	case "spdy-pf":
		err = spdyPortForward(&res)
	case "ws-pf":
		err = wsPortForward(&res)
	default:
		err = fmt.Errorf("unknown mode %q", mode)
	}
	if err != nil {
		res.Transport = err.Error()
	}
	out, _ := json.Marshal(res)
	if *resultFile != "" {
		os.WriteFile(*resultFile, out, 0o644)
	} else {
		fmt.Fprintln(os.Stderr, string(out))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "skiffstream:", err)
		os.Exit(1)
	}
}

func offered(def string) []string {
	p := *protocols
	if p == "" {
		p = def
	}
	if p == "none" {
		return nil
	}
	return strings.Split(p, ",")
}

// spdyUpgrade does what k8s' SpdyRoundTripper does: an HTTP/1.1 request with
// Upgrade: SPDY/3.1 and the protocols offered, then SPDY on the same connection.
func spdyUpgrade(res *result, protos []string) (*spdystream.Connection, error) {
	u, err := url.Parse(*rawURL)
	if err != nil {
		return nil, err
	}
	var c net.Conn
	if u.Scheme == "https" {
		// Tests use throwaway self-signed certificates.
		c, err = tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", u.Host, &tls.Config{InsecureSkipVerify: true})
	} else {
		c, err = net.DialTimeout("tcp", u.Host, 5*time.Second)
	}
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n", *method, u.RequestURI(), u.Host)
	for _, p := range protos {
		fmt.Fprintf(&b, "X-Stream-Protocol-Version: %s\r\n", p)
	}
	b.WriteString("Content-Length: 0\r\n\r\n")
	if _, err := c.Write([]byte(b.String())); err != nil {
		return nil, err
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return nil, err
	}
	res.HTTPStatus = resp.StatusCode
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(resp.Body)
		res.Body = string(body)
		c.Close()
		return nil, fmt.Errorf("upgrade refused: %s", resp.Status)
	}
	res.Protocol = resp.Header.Get("X-Stream-Protocol-Version")
	conn, err := spdystream.NewConnection(&bufferedConn{Conn: c, r: br}, false)
	if err != nil {
		return nil, err
	}
	go conn.Serve(spdystream.NoOpStreamHandler)
	return conn, nil
}

type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (b *bufferedConn) Read(p []byte) (int, error) { return b.r.Read(p) }

func createStream(conn *spdystream.Connection, h http.Header) (*spdystream.Stream, error) {
	s, err := conn.CreateStream(h, nil, false)
	if err != nil {
		return nil, err
	}
	if err := s.WaitTimeout(10 * time.Second); err != nil {
		return nil, fmt.Errorf("no reply to stream %v: %v", h, err)
	}
	return s, nil
}

func parseSize(s string) (int, int) {
	var w, h int
	fmt.Sscanf(s, "%dx%d", &w, &h)
	return w, h
}

// slowWriter lets bytes through at a fixed rate, so the server sees a slow reader.
type slowWriter struct {
	w     io.Writer
	start time.Time
	n     int64
}

func (s *slowWriter) Write(p []byte) (int, error) {
	s.n += int64(len(p))
	due := s.start.Add(time.Duration(float64(s.n) / (*throttle * 1024 * 1024) * float64(time.Second)))
	time.Sleep(time.Until(due))
	return s.w.Write(p)
}

func copyStdout(w io.Writer, r io.Reader) int64 {
	if *discard {
		w = io.Discard
	}
	if *throttle > 0 {
		w = &slowWriter{w: w, start: time.Now()}
	}
	n, _ := io.CopyBuffer(w, r, make([]byte, 32*1024))
	return n
}

func spdyExec(res *result) error {
	conn, err := spdyUpgrade(res, offered("v4.channel.k8s.io,v3.channel.k8s.io,v2.channel.k8s.io,channel.k8s.io"))
	if err != nil {
		return err
	}
	defer conn.Close()
	if *hold > 0 {
		// An idle client: report whether the server closed the connection meanwhile.
		select {
		case <-conn.CloseChan():
			res.Error = "closed by server"
		case <-time.After(*hold):
			res.Error = "still open"
		}
		return nil
	}
	mk := func(t string) (*spdystream.Stream, error) {
		return createStream(conn, http.Header{"streamtype": []string{t}})
	}
	errStream, err := mk("error")
	if err != nil {
		return err
	}
	errCh := make(chan []byte, 1)
	go func() { b, _ := io.ReadAll(errStream); errCh <- b }()
	var wg sync.WaitGroup
	if *useStdin {
		s, err := mk("stdin")
		if err != nil {
			return err
		}
		go func() {
			time.Sleep(*stdinDelay)
			io.Copy(s, os.Stdin)
			s.Close()
		}()
	}
	if *useStdout {
		s, err := mk("stdout")
		if err != nil {
			return err
		}
		wg.Add(1)
		go func() { defer wg.Done(); res.StdoutBytes = copyStdout(os.Stdout, s) }()
	}
	if *useStderr && !*tty {
		s, err := mk("stderr")
		if err != nil {
			return err
		}
		wg.Add(1)
		go func() { defer wg.Done(); n, _ := io.Copy(os.Stderr, s); res.StderrBytes = n }()
	}
	if *tty && res.Protocol != "v2.channel.k8s.io" && res.Protocol != "channel.k8s.io" && res.Protocol != "" {
		s, err := mk("resize")
		if err != nil {
			return err
		}
		if *resize != "" {
			w, h := parseSize(*resize)
			json.NewEncoder(s).Encode(map[string]int{"Width": w, "Height": h})
		}
	}
	wg.Wait()
	select {
	case b := <-errCh:
		res.Error = string(b)
	case <-time.After(30 * time.Second):
		return fmt.Errorf("error stream did not end")
	}
	return nil
}

func wsURL() (string, error) {
	u, err := url.Parse(*rawURL)
	if err != nil {
		return "", err
	}
	u.Scheme = strings.Replace(u.Scheme, "http", "ws", 1)
	return u.String(), nil
}

func wsDial(res *result, protos []string, extraQuery string) (*websocket.Conn, error) {
	u, err := wsURL()
	if err != nil {
		return nil, err
	}
	if extraQuery != "" {
		u += "?" + extraQuery
	}
	d := websocket.Dialer{Subprotocols: protos, HandshakeTimeout: 10 * time.Second, TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
	ws, resp, err := d.Dial(u, nil)
	if resp != nil {
		res.HTTPStatus = resp.StatusCode
		if resp.StatusCode != http.StatusSwitchingProtocols {
			body, _ := io.ReadAll(resp.Body)
			res.Body = string(body)
		}
	}
	if err != nil {
		return nil, err
	}
	res.Protocol = ws.Subprotocol()
	return ws, nil
}

type wsWriter struct {
	mu     sync.Mutex
	ws     *websocket.Conn
	base64 bool
}

func (w *wsWriter) send(ch byte, p []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.base64 {
		return w.ws.WriteMessage(websocket.TextMessage, []byte(string(rune('0'+ch))+base64.StdEncoding.EncodeToString(p)))
	}
	return w.ws.WriteMessage(websocket.BinaryMessage, append([]byte{ch}, p...))
}

func (w *wsWriter) decode(kind int, msg []byte) (byte, []byte, bool) {
	if len(msg) == 0 {
		return 0, nil, false
	}
	if w.base64 && kind == websocket.TextMessage {
		b, err := base64.StdEncoding.DecodeString(string(msg[1:]))
		if err != nil {
			return 0, nil, false
		}
		return msg[0] - '0', b, true
	}
	return msg[0], msg[1:], true
}

func pumpStdin(w *wsWriter, ch byte, v5 bool) {
	time.Sleep(*stdinDelay)
	buf := make([]byte, 32*1024)
	for {
		n, err := os.Stdin.Read(buf)
		if n > 0 {
			if w.send(ch, buf[:n]) != nil {
				return
			}
		}
		if err != nil {
			break
		}
	}
	if v5 {
		w.mu.Lock()
		w.ws.WriteMessage(websocket.BinaryMessage, []byte{255, ch})
		w.mu.Unlock()
	}
}

func wsExec(res *result) error {
	ws, err := wsDial(res, offered("v5.channel.k8s.io,v4.channel.k8s.io,channel.k8s.io"), "")
	if err != nil {
		return err
	}
	defer ws.Close()
	w := &wsWriter{ws: ws, base64: strings.Contains(res.Protocol, "base64")}
	if *tty && *resize != "" {
		wd, h := parseSize(*resize)
		b, _ := json.Marshal(map[string]int{"Width": wd, "Height": h})
		w.send(4, b)
	}
	if *useStdin {
		go pumpStdin(w, 0, strings.HasPrefix(res.Protocol, "v5."))
	}
	var errBuf []byte
	var wsOut io.Writer
	for {
		kind, msg, err := ws.ReadMessage()
		if err != nil {
			if websocket.IsCloseError(err, websocket.CloseNormalClosure) {
				break
			}
			return err
		}
		ch, p, ok := w.decode(kind, msg)
		if !ok {
			continue
		}
		switch ch {
		case 1:
			if wsOut == nil {
				wsOut = os.Stdout
				if *discard {
					wsOut = io.Discard
				}
				if *throttle > 0 {
					wsOut = &slowWriter{w: wsOut, start: time.Now()}
				}
			}
			wsOut.Write(p)
			res.StdoutBytes += int64(len(p))
		case 2:
			os.Stderr.Write(p)
			res.StderrBytes += int64(len(p))
		case 3:
			errBuf = append(errBuf, p...)
		}
	}
	res.Error = string(errBuf)
	return nil
}

func spdyPortForward(res *result) error {
	conn, err := spdyUpgrade(res, offered("portforward.k8s.io"))
	if err != nil {
		return err
	}
	defer conn.Close()
	h := http.Header{}
	h.Set("streamtype", "error")
	h.Set("port", fmt.Sprint(*port))
	h.Set("requestid", "0")
	errStream, err := createStream(conn, h)
	if err != nil {
		return err
	}
	// As kubectl: the client never writes on the error stream.
	errStream.Close()
	errCh := make(chan []byte, 1)
	go func() { b, _ := io.ReadAll(errStream); errCh <- b }()
	h.Set("streamtype", "data")
	data, err := createStream(conn, h)
	if err != nil {
		return err
	}
	go func() {
		io.Copy(data, os.Stdin)
		data.Close()
	}()
	res.StdoutBytes = copyStdout(os.Stdout, data)
	select {
	case b := <-errCh:
		res.Error = string(b)
	case <-time.After(30 * time.Second):
		return fmt.Errorf("error stream did not end")
	}
	return nil
}

func wsPortForward(res *result) error {
	ws, err := wsDial(res, offered("v4.channel.k8s.io"), fmt.Sprintf("port=%d", *port))
	if err != nil {
		return err
	}
	defer ws.Close()
	w := &wsWriter{ws: ws, base64: strings.Contains(res.Protocol, "base64")}
	go pumpStdin(w, 0, false)
	seen := map[byte]bool{}
	var errBuf []byte
	for {
		kind, msg, err := ws.ReadMessage()
		if err != nil {
			if websocket.IsCloseError(err, websocket.CloseNormalClosure) {
				break
			}
			return err
		}
		ch, p, ok := w.decode(kind, msg)
		if !ok {
			continue
		}
		// Each channel's first message is the port, little-endian.
		if !seen[ch] {
			seen[ch] = true
			if len(p) < 2 || int(p[0])|int(p[1])<<8 != *port {
				return fmt.Errorf("channel %d did not start with port %d: %v", ch, *port, p)
			}
			p = p[2:]
		}
		switch ch {
		case 0:
			os.Stdout.Write(p)
			res.StdoutBytes += int64(len(p))
		case 1:
			errBuf = append(errBuf, p...)
		}
	}
	res.Error = string(errBuf)
	return nil
}
