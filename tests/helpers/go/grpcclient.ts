/**
 * Builds the grpc-go test client (tests/helpers/go/grpcclient/) offline, from Debian's
 * golang-google-grpc-dev in GOPATH mode, and runs it against a socket.
 */
import { makeTempDir } from "../env.ts";

const SOURCE_DIR = new URL("./grpcclient/", import.meta.url).pathname;
const GOPATH_SYSTEM = "/usr/share/gocode";

/** Null when Go or grpc-go's Debian sources are absent (the caller skips loudly). */
export function grpcGoMissing(): string | null {
  try {
    Deno.statSync(`${GOPATH_SYSTEM}/src/google.golang.org/grpc/clientconn.go`);
  } catch {
    return "golang-google-grpc-dev (grpc-go sources under /usr/share/gocode)";
  }
  try {
    new Deno.Command("go", { args: ["version"], stdout: "null", stderr: "null" }).outputSync();
  } catch {
    return "go (golang-go)";
  }
  return null;
}

export interface GrpcGoClient {
  binary: string;
  dispose(): Promise<void>;
}

export async function buildGrpcGoClient(): Promise<GrpcGoClient> {
  const dir = await makeTempDir("grpcclient");
  const binary = `${dir}/grpcclient`;
  const out = await new Deno.Command("go", {
    args: ["build", "-o", binary, "."],
    cwd: SOURCE_DIR,
    env: { GO111MODULE: "off", GOPATH: `${GOPATH_SYSTEM}:${dir}/gopath`, GOFLAGS: "" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw new Error(
      `go build of the grpc-go test client failed:\n${new TextDecoder().decode(out.stderr)}`,
    );
  }
  return { binary, dispose: () => Deno.remove(dir, { recursive: true }).catch(() => {}) };
}

export interface GrpcGoResult {
  ok: boolean;
  /** Response's top-level protobuf fields by number (strings and varints). */
  fields?: Record<string, string | number>;
  code?: string;
  message?: string;
}

export async function runGrpcGoClient(
  client: GrpcGoClient,
  opts: {
    socket: string;
    authority?: string;
    method?: string;
    requestHex?: string;
    count?: number;
  },
): Promise<GrpcGoResult> {
  const args = ["-socket", opts.socket, "-timeout", "10s"];
  if (opts.authority !== undefined) args.push("-authority", opts.authority);
  if (opts.method) args.push("-method", opts.method);
  if (opts.requestHex) args.push("-request-hex", opts.requestHex);
  if (opts.count) args.push("-count", String(opts.count));
  const out = await new Deno.Command(client.binary, { args, stdout: "piped", stderr: "piped" })
    .output();
  const text = new TextDecoder().decode(out.stdout).trim();
  if (!text) {
    throw new Error(`grpcclient printed nothing: ${new TextDecoder().decode(out.stderr)}`);
  }
  return JSON.parse(text) as GrpcGoResult;
}
