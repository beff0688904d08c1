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

// `deno run --no-config core/v8_flags.ts` prints them on one line (scripts/setup,
// scripts/release.sh).
if (import.meta.main) console.log(DAEMON_RUN_FLAGS.join(" "));
