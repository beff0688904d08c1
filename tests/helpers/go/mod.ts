/**
 * The independent streaming client for tests: tests/helpers/go/skiffstream, a Go program
 * on moby/spdystream and gorilla/websocket (Debian's packages, the libraries kubelet and
 * kubectl use). Built once per test process with Debian's golang-go in GOPATH mode, offline,
 * into a temp dir that is removed when the process ends.
 */
const SOURCE = new URL("./skiffstream/", import.meta.url).pathname;
const GOCODE = "/usr/share/gocode";

let built: Promise<string> | null = null;

/** Why the client cannot be built here, or null. */
export function goClientMissing(): string | null {
  for (
    const p of [
      "/usr/bin/go",
      `${GOCODE}/src/github.com/docker/spdystream`,
      `${GOCODE}/src/github.com/gorilla/websocket`,
    ]
  ) {
    try {
      Deno.statSync(p);
    } catch {
      return `${p} is missing (apt-get install golang-go ` +
        "golang-github-docker-spdystream-dev golang-github-gorilla-websocket-dev)";
    }
  }
  return null;
}

export function buildGoClient(): Promise<string> {
  built ??= (async () => {
    const dir = await Deno.makeTempDir({ prefix: "skiff-test-goclient-" });
    globalThis.addEventListener("unload", () => {
      try {
        Deno.removeSync(dir, { recursive: true });
      } catch { /* already gone */ }
    });
    await Deno.mkdir(`${dir}/src`);
    await Deno.symlink(SOURCE, `${dir}/src/skiffstream`);
    const out = await new Deno.Command("go", {
      args: ["build", "-o", `${dir}/skiffstream`, "."],
      cwd: `${dir}/src/skiffstream`,
      env: {
        GO111MODULE: "off",
        GOPATH: `${dir}:${GOCODE}`,
        GOCACHE: `${dir}/cache`,
        GOFLAGS: "",
        CGO_ENABLED: "0",
      },
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!out.success) {
      throw new Error(
        `go build of the test client failed:\n${new TextDecoder().decode(out.stderr)}`,
      );
    }
    return `${dir}/skiffstream`;
  })();
  return built;
}

export interface GoClientResult {
  protocol: string;
  httpStatus: number;
  body: string;
  /** What the server wrote on the error stream/channel. */
  error: string;
  stdoutBytes: number;
  stderrBytes: number;
  /** Set when the client itself failed (connection, refused upgrade, …). */
  transport?: string;
}

export interface GoClientRun {
  code: number;
  stdout: string;
  stderr: string;
  result: GoClientResult;
}

export type GoClientMode = "spdy-exec" | "ws-exec" | "spdy-pf" | "ws-pf";

/** Runs the client; `stdin` is written then closed (EOF). */
export async function runGoClient(
  mode: GoClientMode,
  url: string,
  flags: string[],
  stdin = "",
  opts: { killAfterMs?: number } = {},
): Promise<GoClientRun> {
  const bin = await buildGoClient();
  const dir = await Deno.makeTempDir({ prefix: "skiff-test-goclient-run-" });
  try {
    const child = new Deno.Command(bin, {
      args: [mode, "-url", url, "-result", `${dir}/result.json`, ...flags],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    // A client that vanishes mid-session (SIGKILL, no goodbye).
    // Also a hung session must fail the test, not hang it: 60 s at most by default.
    const killer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch { /* exited */ }
    }, opts.killAfterMs ?? 60_000);
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(stdin)).catch(() => {});
    await w.close().catch(() => {});
    const out = await child.output();
    clearTimeout(killer);
    const text = await Deno.readTextFile(`${dir}/result.json`).catch(() => "{}");
    return {
      code: out.code,
      stdout: new TextDecoder().decode(out.stdout),
      stderr: new TextDecoder().decode(out.stderr),
      result: JSON.parse(text) as GoClientResult,
    };
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** The exit code a v4 Status on the error stream reports (0 for Success). */
export function exitCodeFromStatus(error: string): number | null {
  if (!error) return null;
  const s = JSON.parse(error) as {
    status: string;
    reason?: string;
    details?: { causes?: { reason?: string; message?: string }[] };
  };
  if (s.status === "Success") return 0;
  const cause = s.details?.causes?.find((c) => c.reason === "ExitCode");
  return s.reason === "NonZeroExitCode" && cause ? Number(cause.message) : null;
}
