/**
 * The mix's independent reader (`--mix-probe`): bench/compare/readprobe, a grpc-go client in
 * a process of its own (kubelet's client stack), issues its own reads through each burst,
 * one every 5 ms from its start, each timed on its own. It shows what a read costs while
 * the runtime is busy, apart from the bench's client (one Deno thread and one grpc-js
 * connection receiving 200 answers), which bounds how soon the mix's own reads complete.
 */
import { makeTempDir } from "../../tests/helpers/env.ts";

const SOURCE_DIR = new URL("./readprobe/", import.meta.url).pathname;
const GOPATH_SYSTEM = "/usr/share/gocode";

export interface ReadProbe {
  /** Starts the probe's reads now; resolves with each one's latency (ms) by method. */
  fire(containerId: string): Promise<{ times: Record<string, number[]>; errors: number }>;
  close(): Promise<void>;
}

/** Builds the probe (offline, Debian's grpc-go), into a temp dir removed by `dispose`. */
export async function buildReadProbe(): Promise<{ binary: string; dispose(): Promise<void> }> {
  const dir = await makeTempDir("readprobe");
  const out = await new Deno.Command("go", {
    args: ["build", "-o", `${dir}/readprobe`, "."],
    cwd: SOURCE_DIR,
    env: {
      GO111MODULE: "off",
      GOPATH: `${GOPATH_SYSTEM}:${dir}/gopath`,
      GOCACHE: `${dir}/cache`,
      GOFLAGS: "",
    },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dispose = () => Deno.remove(dir, { recursive: true }).catch(() => {});
  if (!out.success) {
    await dispose();
    throw new Error(`go build of readprobe failed:\n${new TextDecoder().decode(out.stderr)}`);
  }
  return { binary: `${dir}/readprobe`, dispose };
}

export async function startReadProbe(
  binary: string,
  socket: string,
  reads: number,
): Promise<ReadProbe> {
  const child = new Deno.Command(binary, {
    args: ["-socket", socket, "-reads", String(reads)],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  const nextLine = async (): Promise<string> => {
    while (!buffered.includes("\n")) {
      const { value, done } = await lines.read();
      if (done) throw new Error("readprobe ended");
      buffered += value;
    }
    const i = buffered.indexOf("\n");
    const line = buffered.slice(0, i);
    buffered = buffered.slice(i + 1);
    return line;
  };
  await nextLine(); // {"ready":true}: connected and warmed up
  const stdin = child.stdin.getWriter();
  return {
    async fire(containerId) {
      await stdin.write(new TextEncoder().encode(`go ${containerId}\n`));
      return JSON.parse(await nextLine());
    },
    async close() {
      await stdin.close().catch(() => {});
      await lines.cancel().catch(() => {});
      await child.status;
    },
  };
}
