/**
 * A real OCI registry for tests: Debian's `docker-registry` (distribution 2.8) on a free
 * 127.0.0.1 port, storing into its own temp dir, optionally behind htpasswd Basic auth.
 *
 * ```ts
 * const registry = await TestRegistry.start();                 // no auth
 * const locked = await TestRegistry.start({ auth: { username: "u", password: "p" } });
 * try {
 *   await pushBusyboxImage(registry, "test/busybox:1");        // from oci_build.ts
 *   // pull `${registry.host}/test/busybox:1` (registry.host is "127.0.0.1:<port>")
 * } finally {
 *   await registry.stop();                                     // kills it, removes its dir
 * }
 * ```
 *
 * `registry.authHeader()` gives the `Authorization` value for pushes to an auth registry
 * (the push helpers in oci_build.ts use it automatically).
 */
import { freePort, makeTempDir, missingPrerequisites } from "./env.ts";

export const REGISTRY_BINARY = "/usr/bin/docker-registry";

export interface RegistryOptions {
  /** htpasswd Basic auth with this one user (needs `htpasswd` from apache2-utils). */
  auth?: { username: string; password: string };
}

/** Reason to skip registry tests on this machine, or null when everything is present. */
export function registryPrerequisitesMissing(opts: RegistryOptions = {}): string | null {
  return missingPrerequisites({
    binaries: ["docker-registry", ...(opts.auth ? ["htpasswd"] : [])],
  });
}

export class TestRegistry {
  /** `127.0.0.1:<port>`: the host part of image references pushed here. */
  readonly host: string;
  /** `http://127.0.0.1:<port>` */
  readonly url: string;

  private constructor(
    readonly dir: string,
    readonly port: number,
    readonly auth: RegistryOptions["auth"],
    private child: Deno.ChildProcess | undefined,
    readonly logFile: string,
  ) {
    this.host = `127.0.0.1:${port}`;
    this.url = `http://${this.host}`;
  }

  static async start(opts: RegistryOptions = {}): Promise<TestRegistry> {
    const dir = await makeTempDir("registry");
    try {
      return await TestRegistry.startIn(dir, opts);
    } catch (e) {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      throw e;
    }
  }

  private static async startIn(dir: string, opts: RegistryOptions): Promise<TestRegistry> {
    const storage = `${dir}/storage`;
    await Deno.mkdir(storage);
    let authYaml = "";
    if (opts.auth) {
      const out = await new Deno.Command("htpasswd", {
        args: ["-Bbn", opts.auth.username, opts.auth.password],
        stdout: "piped",
        stderr: "piped",
      }).output();
      if (!out.success) {
        throw new Error(`htpasswd failed: ${new TextDecoder().decode(out.stderr)}`);
      }
      await Deno.writeFile(`${dir}/htpasswd`, out.stdout);
      authYaml = `auth:\n  htpasswd:\n    realm: skiff-test\n    path: ${dir}/htpasswd\n`;
    }
    // The port can be taken between freePort() and the registry's bind; retry a few times.
    for (let attempt = 0; attempt < 5; attempt++) {
      const port = freePort();
      const debugPort = freePort();
      const configPath = `${dir}/config.yml`;
      await Deno.writeTextFile(
        configPath,
        [
          "version: 0.1",
          "log:",
          "  level: warn",
          "storage:",
          "  filesystem:",
          `    rootdirectory: ${storage}`,
          "  delete:",
          "    enabled: true",
          "http:",
          `  addr: 127.0.0.1:${port}`,
          "  debug:",
          `    addr: 127.0.0.1:${debugPort}`,
          "",
        ].join("\n") + authYaml,
      );
      const logFile = `${dir}/registry.log`;
      await Deno.writeTextFile(logFile, "", { append: true });
      const child = new Deno.Command(REGISTRY_BINARY, {
        args: ["serve", configPath],
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      // Drain output into the log file so the registry never blocks on a full pipe.
      const drain = async (s: ReadableStream<Uint8Array>) => {
        const f = await Deno.open(logFile, { write: true, append: true });
        try {
          for await (const chunk of s) await f.write(chunk);
        } catch {
          // the process went away
        } finally {
          f.close();
        }
      };
      drain(child.stdout);
      drain(child.stderr);
      const registry = new TestRegistry(dir, port, opts.auth, child, logFile);
      if (await registry.waitReady(child)) return registry;
      await registry.killChild();
    }
    const log = await Deno.readTextFile(`${dir}/registry.log`).catch(() => "");
    throw new Error(`docker-registry did not start; log:\n${log.slice(-2000)}`);
  }

  private async waitReady(child: Deno.ChildProcess): Promise<boolean> {
    let exited = false;
    child.status.then(() => exited = true);
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && !exited) {
      try {
        const res = await fetch(`${this.url}/v2/`);
        await res.body?.cancel();
        // 200 without auth, 401 with: either way it is serving.
        if (res.status === 200 || res.status === 401) return true;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    return false;
  }

  /** `Authorization` header value for this registry's user, or undefined without auth. */
  authHeader(): string | undefined {
    if (!this.auth) return undefined;
    return `Basic ${btoa(`${this.auth.username}:${this.auth.password}`)}`;
  }

  /**
   * Requests the registry served, from its access log, as "METHOD /path" (e.g.
   * "GET /v2/test/busybox/blobs/sha256:…"), for tests that count downloads.
   */
  async requests(): Promise<string[]> {
    // The log is copied from the registry's pipes asynchronously: give it a moment.
    await new Promise((r) => setTimeout(r, 150));
    const text = await Deno.readTextFile(this.logFile).catch(() => "");
    const out: string[] = [];
    for (const m of text.matchAll(/"(GET|HEAD|PUT|POST|PATCH|DELETE) (\S+) HTTP\/[\d.]+"/g)) {
      out.push(`${m[1]} ${m[2]}`);
    }
    return out;
  }

  /** Full reference for a repository path and tag on this registry. */
  ref(nameAndTag: string): string {
    return `${this.host}/${nameAndTag}`;
  }

  private async killChild(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child) return;
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
    await child.status;
  }

  /** Kills the registry and removes its storage. Safe to call twice. */
  async stop(): Promise<void> {
    await this.killChild();
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}
