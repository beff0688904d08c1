/**
 * The mix's independent reader (`--mix-probe`): bench/compare/readprobe, a grpc-go client in
 * a process of its own, issues its own reads at the moment of each burst. If its reads come
 * back sooner than the bench client's, the delay is in the bench's client (one Deno thread
 * and one grpc-js connection receiving 200 answers), not in the runtime.
 */
import { makeTempDir } from "../../tests/helpers/env.ts";

const SOURCE_DIR = new URL("./readprobe/", import.meta.url).pathname;
const GOPATH_SYSTEM = "/usr/share/gocode";

export interface ReadProbe {
  /** Fires the probe's reads now; resolves with their times (ms from firing) by method. */
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
