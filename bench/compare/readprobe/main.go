// readprobe: an independent CRI client for the 200-call mix (bench/concurrency.ts). It
// dials the runtime's socket once, warms the connection up, then waits on stdin: for each
// line "go <container-id>" it issues -reads calls (ListContainers, ContainerStatus of that
// container, ListPodSandbox in turn), one every -every-ms so they land all through the
// burst's busiest part as kubelet's relists and probes would, and prints one JSON line of
// each call's own latency in ms by method. A grpc-go client in its own process, so a delay
// it sees is not the bench's own client (Deno, grpc-js, one thread) being busy. (Fired all
// at once, its reads reached the runtime before the bench's burst did and measured an idle
// runtime.)
//
// Built offline from Debian's golang-google-grpc-dev in GOPATH mode, as the test clients.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
)

type rawCodec struct{}

func (rawCodec) Marshal(v interface{}) ([]byte, error) { return *(v.(*[]byte)), nil }
func (rawCodec) Unmarshal(data []byte, v interface{}) error {
	*(v.(*[]byte)) = append([]byte(nil), data...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

const svc = "/runtime.v1.RuntimeService/"

func main() {
	socket := flag.String("socket", "", "unix socket of the CRI server")
	reads := flag.Int("reads", 30, "reads per burst")
	everyMs := flag.Int("every-ms", 5, "ms between the starts of two reads")
	flag.Parse()
	conn, err := grpc.Dial("passthrough:///"+*socket,
		grpc.WithInsecure(),
		grpc.WithAuthority("localhost"),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", *socket)
		}))
	if err != nil {
		fmt.Fprintln(os.Stderr, "readprobe: dial:", err)
		os.Exit(2)
	}
	defer conn.Close()
	empty := []byte{}
	var res []byte
	if err := conn.Invoke(context.Background(), svc+"ListPodSandbox", &empty, &res, grpc.ForceCodec(rawCodec{})); err != nil {
		fmt.Fprintln(os.Stderr, "readprobe: warm-up:", err)
		os.Exit(2)
	}
	fmt.Println(`{"ready":true}`)
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		id := strings.TrimPrefix(in.Text(), "go ")
		status := append([]byte{0x0a, byte(len(id))}, id...)
		methods := []string{"ListContainers", "ContainerStatus", "ListPodSandbox"}
		out := map[string][]float64{}
		errs := 0
		var mu sync.Mutex
		var wg sync.WaitGroup
		for i := 0; i < *reads; i++ {
			if i > 0 {
				time.Sleep(time.Duration(*everyMs) * time.Millisecond)
			}
			m := methods[i%len(methods)]
			req := empty
			if m == "ContainerStatus" {
				req = status
			}
			wg.Add(1)
			go func(m string, req []byte) {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				var r []byte
				t0 := time.Now()
				err := conn.Invoke(ctx, svc+m, &req, &r, grpc.ForceCodec(rawCodec{}))
				ms := float64(time.Since(t0).Microseconds()) / 1000
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs++
					return
				}
				out[m] = append(out[m], ms)
			}(m, req)
		}
		wg.Wait()
		line, _ := json.Marshal(map[string]interface{}{"times": out, "errors": errs})
		fmt.Println(string(line))
	}
}
