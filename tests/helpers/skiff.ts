/**
 * Runs a real Skiff process for a test: its own root/state dirs, socket, ports, bridge and
 * subnet; a typed CRI client; SIGTERM, SIGKILL and restart; and removal of everything it
 * made, pass or fail.
 */
import { CriClient } from "../../cri/client.ts";
import { DAEMON_DENO_FLAGS, DAEMON_ENV } from "../../core/v8_flags.ts";
import { freePort, makeTempDir, uniqueBridgeName, uniqueSubnet } from "./env.ts";
import {
  killPodProcesses,
  killProcessesMentioning,
  removeAllThroughCri,
  removeRuntimeLeftovers,
  removeTree,
  teardownNetwork,
} from "./teardown.ts";

export { removeTree };

const ROOT = new URL("../../", import.meta.url).pathname;
const SOURCE_MAIN = `${ROOT}main.ts`;
const DENO = Deno.execPath();

/**
 * The daemon a test runs when it names none: the shipped bundle (scripts/bundle.ts) that
 * `scripts/setup test` builds and names in SKIFF_TEST_BUNDLE, else the sources' main.ts.
 */
export function defaultDaemonMain(): string {
  return Deno.env.get("SKIFF_TEST_BUNDLE") || SOURCE_MAIN;
}

/** `deno run` arguments for `skiff <args>` from `main` (a bundle or main.ts). */
export function skiffRunArgs(
  args: string[],
  main = defaultDaemonMain(),
  denoFlags: readonly string[] = [],
): string[] {
  // A bundle finds its external packages through the repository's deno.json.
  const config = main === SOURCE_MAIN ? [] : ["--config", `${ROOT}deno.json`];
  return ["run", "--allow-all", "--cached-only", ...config, ...denoFlags, main, ...args];
}

export interface SkiffOptions {
  /** Extra TOML appended to the generated config. */
  extraToml?: string;
  /** Use the built-in bridge network with a bridge and subnet unique to this run. */
  bridge?: boolean;
  /** Environment for the Skiff process. */
  env?: Record<string, string>;
  /** The daemon: main.ts or a bundle's main.js (default: defaultDaemonMain()). */
  main?: string;
}

export class TestSkiff {
  readonly socket: string;
  readonly configPath: string;
  readonly rootDir: string;
  readonly stateDir: string;
  readonly adminPort: number;
  readonly streamingPort: number;
  readonly bridgeName: string;
  readonly subnet: string;
  readonly logFile: string;
  readonly cniConfDir: string;
  private child?: Deno.ChildProcess;
  private clientInstance?: CriClient;

  private constructor(readonly dir: string, readonly opts: SkiffOptions) {
    this.rootDir = `${dir}/root`;
    this.stateDir = `${dir}/state`;
    this.socket = `${dir}/state/skiff.sock`;
    this.configPath = `${dir}/config.toml`;
    this.logFile = `${dir}/skiff.log`;
    this.cniConfDir = `${dir}/cni/net.d`;
    this.adminPort = freePort();
    this.streamingPort = freePort();
    this.bridgeName = uniqueBridgeName();
    this.subnet = opts.bridge ? uniqueSubnet() : "10.88.0.0/16";
  }

  static async create(opts: SkiffOptions = {}): Promise<TestSkiff> {
    const s = new TestSkiff(await makeTempDir("skiff"), opts);
    await Deno.mkdir(s.cniConfDir, { recursive: true });
    await Deno.writeTextFile(s.configPath, s.configToml());
    return s;
  }

  configToml(): string {
    return [
      `root_dir = "${this.rootDir}"`,
      `state_dir = "${this.stateDir}"`,
      `socket = "${this.socket}"`,
      `log_level = "debug"`,
      `shutdown_grace_seconds = 5`,
      `[streaming]`,
      `address = "127.0.0.1:${this.streamingPort}"`,
      `[admin]`,
      `address = "127.0.0.1:${this.adminPort}"`,
      `[network]`,
      `cni_conf_dir = "${this.cniConfDir}"`,
      `bridge_name = "${this.bridgeName}"`,
      `subnet = "${this.subnet}"`,
      this.opts.bridge ? `default = "bridge"` : "",
      this.opts.extraToml ?? "",
    ].join("\n") + "\n";
  }

  get client(): CriClient {
    this.clientInstance ??= new CriClient(this.socket);
    return this.clientInstance;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  adminUrl(path: string): string {
    return `http://127.0.0.1:${this.adminPort}${path}`;
  }

  async adminToken(): Promise<string> {
    return (await Deno.readTextFile(`${this.rootDir}/admin.token`)).trim();
  }

  /** Starts Skiff and waits until its socket answers. */
  async start(timeoutMs = 15000): Promise<void> {
    const log = await Deno.open(this.logFile, { append: true, create: true, write: true });
    this.child = new Deno.Command(DENO, {
      // The daemon's own deno flags and environment (as shipped); its V8 flags come from
      // opts.env if wanted.
      args: skiffRunArgs(
        ["serve", "--config", this.configPath],
        this.opts.main,
        DAEMON_DENO_FLAGS,
      ),
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: { ...DAEMON_ENV, ...this.opts.env },
    }).spawn();
    // Both streams go to the log file; closing the file handle is left to the pipes.
    const pump = async (r: ReadableStream<Uint8Array>) => {
      for await (const chunk of r) await log.write(chunk).catch(() => {});
    };
    const pumps = Promise.all([pump(this.child.stdout), pump(this.child.stderr)]).finally(() =>
      log.close()
    );
    this.pumps = pumps;
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      try {
        await this.client.call("Version", {}, { timeoutMs: 1000 });
        return;
      } catch {
        const status = await Promise.race([
          this.child.status,
          new Promise<null>((r) => setTimeout(() => r(null), 100)),
        ]);
        if (status) {
          throw new Error(`Skiff exited with ${status.code} at start:\n${await this.log()}`);
        }
      }
    }
    throw new Error(`Skiff did not answer within ${timeoutMs} ms:\n${await this.log()}`);
  }
  private pumps?: Promise<unknown>;

  async log(): Promise<string> {
    return await Deno.readTextFile(this.logFile).catch(() => "");
  }

  /** Sends a signal and waits for the process to exit; returns its exit code. */
  async signal(sig: Deno.Signal = "SIGTERM"): Promise<number> {
    const child = this.child;
    if (!child) return 0;
    this.clientInstance?.close();
    this.clientInstance = undefined;
    try {
      child.kill(sig);
    } catch {
      // already gone
    }
    const st = await child.status;
    await this.pumps;
    this.child = undefined;
    return st.code;
  }

  async stop(): Promise<number> {
    return await this.signal("SIGTERM");
  }

  async kill(): Promise<void> {
    await this.signal("SIGKILL");
  }

  async restart(): Promise<void> {
    await this.kill();
    await this.start();
  }

  /**
   * Removes everything this Skiff made, pass or fail: pods and containers through CRI while
   * it answers, then Skiff itself, leftover runtime containers and processes, mounts, files,
   * and the test's bridge and iptables rules. Call it in `finally`.
   */
  async dispose(): Promise<void> {
    if (this.child) await removeAllThroughCri(this);
    if (this.child) await this.signal("SIGKILL");
    await removeRuntimeLeftovers(this);
    await killProcessesMentioning(this.dir);
    await killPodProcesses(this);
    await removeTree(this.dir);
    await teardownNetwork(this);
  }
}
