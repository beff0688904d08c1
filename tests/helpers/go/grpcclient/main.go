// grpcclient: a small grpc-go client for Skiff's tests. It calls one unary CRI method on a
// unix socket with raw protobuf bytes (no generated code, so it builds offline from
// Debian's golang-google-grpc-dev in GOPATH mode) and prints the response's top-level
// fields as JSON, or the gRPC error.
//
//	grpcclient -socket /run/skiff/skiff.sock [-authority A] [-method /runtime.v1.RuntimeService/Version] [-request-hex HEX] [-count N]
//
// -authority "" keeps grpc-go's own default for the target; kubelet >= 1.30 sends
// "localhost", older kubelets send the socket path.
package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
)

// rawCodec passes message bytes through; Name "proto" keeps content-type application/grpc+proto.
type rawCodec struct{}

func (rawCodec) Marshal(v interface{}) ([]byte, error) { return *(v.(*[]byte)), nil }
func (rawCodec) Unmarshal(data []byte, v interface{}) error {
	*(v.(*[]byte)) = append([]byte(nil), data...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

// topLevelFields decodes a protobuf message's top-level fields: varints as numbers,
// length-delimited ones as strings (nested messages come out as their raw bytes).
func topLevelFields(b []byte) (map[string]interface{}, error) {
	out := map[string]interface{}{}
	for len(b) > 0 {
		key, n := varint(b)
		if n <= 0 {
			return nil, fmt.Errorf("bad field key")
		}
		b = b[n:]
		field := strconv.FormatUint(key>>3, 10)
		switch key & 7 {
		case 0:
			v, n := varint(b)
			if n <= 0 {
				return nil, fmt.Errorf("bad varint")
			}
			out[field] = v
			b = b[n:]
		case 2:
			l, n := varint(b)
			if n <= 0 || uint64(len(b)-n) < l {
				return nil, fmt.Errorf("bad length")
			}
			out[field] = string(b[n : n+int(l)])
			b = b[n+int(l):]
		case 1:
			b = b[8:]
		case 5:
			b = b[4:]
		default:
			return nil, fmt.Errorf("unsupported wire type %d", key&7)
		}
	}
	return out, nil
}

func varint(b []byte) (uint64, int) {
	var v uint64
	for i := 0; i < len(b) && i < 10; i++ {
		v |= uint64(b[i]&0x7f) << (7 * uint(i))
		if b[i] < 0x80 {
			return v, i + 1
		}
	}
	return 0, -1
}

func main() {
	socket := flag.String("socket", "/run/skiff/skiff.sock", "unix socket of the CRI server")
	authority := flag.String("authority", "localhost", "HTTP/2 :authority to send (\"\" = grpc-go's default)")
	method := flag.String("method", "/runtime.v1.RuntimeService/Version", "full method name")
	requestHex := flag.String("request-hex", "", "request message bytes, hex")
	count := flag.Int("count", 1, "calls to make on one connection")
	timeout := flag.Duration("timeout", 10*time.Second, "deadline for each call")
	flag.Parse()

	req, err := hex.DecodeString(*requestHex)
	if err != nil {
		fail("bad -request-hex: %v", err)
	}
	opts := []grpc.DialOption{
		grpc.WithInsecure(),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", *socket)
		}),
	}
	if *authority != "" {
		opts = append(opts, grpc.WithAuthority(*authority))
	}
	conn, err := grpc.Dial("passthrough:///"+*socket, opts...)
	if err != nil {
		fail("dial: %v", err)
	}
	defer conn.Close()
	var fields map[string]interface{}
	for i := 0; i < *count; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), *timeout)
		var res []byte
		err = conn.Invoke(ctx, *method, &req, &res, grpc.ForceCodec(rawCodec{}))
		cancel()
		if err != nil {
			st, _ := status.FromError(err)
			out, _ := json.Marshal(map[string]interface{}{"ok": false, "code": st.Code().String(), "message": st.Message(), "call": i})
			fmt.Println(string(out))
			os.Exit(1)
		}
		if fields, err = topLevelFields(res); err != nil {
			fail("decode response: %v", err)
		}
	}
	out, _ := json.Marshal(map[string]interface{}{"ok": true, "fields": fields, "calls": *count})
	fmt.Println(string(out))
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "grpcclient: "+format+"\n", args...)
	os.Exit(2)
}
