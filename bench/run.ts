/**
 * `deno task bench [NAME…] [-- ARGS]`: runs the named benchmarks (all when none is named),
 * each in its own process, one after another. Every benchmark prints its own ratios against
 * a baseline measured in the same run; see the header of each file for its options.
 *
 *   deno task bench                 every benchmark below, default sizes
 *   deno task bench pull sandbox    just those two
 *   deno task bench compare --quick arguments after the names go to each benchmark
 */
const BENCHES = ["pull", "sandbox", "pod_start", "exec", "stats", "compare"];

const names: string[] = [];
const rest: string[] = [];
for (const a of Deno.args) (a.startsWith("-") || rest.length ? rest : names).push(a);
const unknown = names.filter((n) => !BENCHES.includes(n));
if (unknown.length) {
  console.error(`unknown benchmark(s): ${unknown.join(", ")}; known: ${BENCHES.join(", ")}`);
  Deno.exit(2);
}
let failed = 0;
for (const name of names.length ? names : BENCHES) {
  console.log(`\n=== bench/${name}.ts ${rest.join(" ")}`);
  const { code } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", new URL(`./${name}.ts`, import.meta.url).pathname, ...rest],
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (code !== 0) {
    console.error(`bench/${name}.ts exited ${code}`);
    failed++;
  }
}
Deno.exit(failed ? 1 : 0);
