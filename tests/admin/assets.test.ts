/** The dashboard bundled into Skiff (assets.gen.ts) matches its sources and the pinned xterm. */
import { assertEquals } from "./assert.ts";
import { render } from "../../admin/dashboard/build.ts";

Deno.test("dashboard: assets.gen.ts is up to date (run admin/dashboard/build.ts)", async () => {
  const current = await Deno.readTextFile(
    new URL("../../admin/dashboard/assets.gen.ts", import.meta.url),
  );
  assertEquals(current === await render(), true, "stale: deno run -A admin/dashboard/build.ts");
});
