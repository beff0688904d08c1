/**
 * V8 flags the daemon ships with (baked into the compiled binary by scripts/compile.ts; the
 * `start` task, the release tarball's launcher and bench/compare.ts pass the same). Measured
 * with bench/compare.ts (footprint phase, --skiff-v8-flags):
 *
 * - a 1 MiB young-generation semi-space keeps the heap V8 reserves close to what is live,
 *   so memory returns after a burst (daemon RSS after 300 pods created and removed: 173 MiB
 *   → 120 MiB), for more, cheaper scavenges; idle CPU under kubelet-style polling stayed
 *   within run-to-run noise.
 * - `gc` exposed: core/memory.ts runs one full GC when the node goes quiet after work, so
 *   garbage does not stay resident until V8's next major GC.
 */
export const DAEMON_V8_FLAGS: readonly string[] = ["--max-semi-space-size=1", "--expose-gc"];

/**
 * `deno run`/`deno compile` flags the daemon ships with besides its V8 flags (the same
 * places pass them). No V8 code cache: the cache brings back the bytecode of every function
 * an earlier run compiled, used or not, and maps its SQLite file. Measured (bench/compare.ts
 * footprint): daemon RSS 4-6 MiB lower at start and after the load; time to the first
 * answered Version unchanged (~1.1 s either way).
 */
export const DAEMON_DENO_FLAGS: readonly string[] = ["--no-code-cache"];

/** Both, as `deno run`/`deno compile` arguments. */
export const DAEMON_RUN_FLAGS: readonly string[] = [
  ...DAEMON_DENO_FLAGS,
  `--v8-flags=${DAEMON_V8_FLAGS.join(",")}`,
];

/**
 * Environment the daemon ships with: the launchers set it (scripts/setup, the release
 * tarball's bin/skiff, so the systemd unit too; the tests and the bench pass it), since it
 * configures Deno's runtime before any of Skiff's code runs.
 *
 * DENO_TOKIO_EVENT_INTERVAL=1: Deno's event loop is one task on a current-thread tokio
 * runtime, and tokio asks epoll which sockets are ready only every `event_interval` ticks
 * (61 by default) while that task keeps being woken. In a burst, completions of async file
 * operations and spawns woke it back to back: traced with `perf`, the daemon's thread went
 * 66-116 ms at a time without an epoll_wait, and a read from another client (a grpc-go
 * client reading every 5 ms through the 200-call mix, as kubelet's relist would) sat unread
 * in its socket for 35 ms at the median. With 1, epoll is asked on every tick (an
 * epoll_wait with no timeout, ~1 µs): over five A/B pairs that client's reads p50 21-35 →
 * 9-18 ms, p90 53-104 → 35-56 ms; ExecSync, sequential calls and idle CPU no worse
 * (docs/benchmarks.md).
 */
export const DAEMON_ENV: Readonly<Record<string, string>> = { DENO_TOKIO_EVENT_INTERVAL: "1" };

// `deno run --no-config core/v8_flags.ts` prints the flags on one line (scripts/setup,
// scripts/release.sh); with `--env`, the environment as NAME=value words.
if (import.meta.main) {
  console.log(
    Deno.args.includes("--env")
      ? Object.entries(DAEMON_ENV).map(([k, v]) => `${k}=${v}`).join(" ")
      : DAEMON_RUN_FLAGS.join(" "),
  );
}
