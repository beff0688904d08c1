/**
 * Issue 13 item 11: a streaming URL's single-use token is spent only by a real upgrade.
 * A plain GET (a probe, a link preview, a mistaken curl) is told to upgrade and leaves the
 * token for the SPDY or WebSocket client that follows; that upgrade spends it.
 */
import assert from "node:assert/strict";
import { exitCodeFromStatus, goClientMissing, runGoClient } from "../helpers/go/mod.ts";
import { containerPrerequisitesMissing, startRunningContainer } from "./running_container.ts";
import { assertNoHostPaths } from "./refusal.ts";

const missing = containerPrerequisitesMissing() ?? goClientMissing();
if (missing) console.warn(`\n!!! SKIPPING hardening streaming-token tests: ${missing} !!!\n`);

Deno.test({
  name: "hardening: a plain GET on a streaming URL does not spend its token",
  ignore: missing !== null,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const { skiff, containerId, dispose } = await startRunningContainer();
    try {
      for (const mode of ["spdy-exec", "ws-exec"] as const) {
        const { url } = await skiff.client.call("Exec", {
          container_id: containerId,
          cmd: ["echo", "still-valid"],
          stdout: true,
          stderr: true,
        });
        for (const method of ["GET", "POST", "HEAD"]) {
          const plain = await fetch(url, { method });
          const body = await plain.text();
          assert.equal(plain.status, 400, `${method}: ${body}`);
          if (method !== "HEAD") assert.match(body, /Upgrade request required/);
          assertNoHostPaths(skiff, body, `plain ${method}`);
        }
        const first = await runGoClient(mode, url, ["-stdout", "-stderr"]);
        assert.equal(first.result.httpStatus, 101, `${mode}: ${first.result.body}`);
        assert.equal(first.stdout, "still-valid\n");
        assert.equal(exitCodeFromStatus(first.result.error), 0);
        // The upgrade spent it.
        const second = await runGoClient(mode, url, ["-stdout"]);
        assert.equal(second.result.httpStatus, 404);
        assert.match(second.result.body, /already used/);
        assertNoHostPaths(skiff, second.result.body, `${mode} reuse`);
      }
    } finally {
      await dispose();
    }
  },
});
