/**
 * The dashboard in a real browser: Debian's chromium driven by playwright-core against a
 * live Skiff. The page must load with no console errors, show the node and list a pod
 * (a host-network pod made through CRI, so no CNI state is left behind). Screenshots go
 * to tests/artifacts/ (gitignored).
 */
import { assert, assertEquals, assertStringIncludes } from "./assert.ts";
import { startLoggingPod } from "./pod.ts";
import { chromium } from "playwright-core";
import type { BrowserContext, Page } from "playwright-core";
import { TestSkiff } from "../helpers/skiff.ts";
import { isRoot } from "../helpers/env.ts";
import { registryPrerequisitesMissing, TestRegistry } from "../helpers/registry.ts";
import { pushBusyboxImage } from "../helpers/oci_build.ts";

const CHROMIUM = "/usr/bin/chromium";
const ARTIFACTS = new URL("../artifacts/", import.meta.url).pathname;

function missing(): string | null {
  const why: string[] = [];
  try {
    Deno.statSync(CHROMIUM);
  } catch {
    why.push(`${CHROMIUM} (apt-get install chromium)`);
  }
  if (!isRoot()) why.push("root");
  if (why.length === 0) return null;
  console.error(`\n!!! SKIPPING dashboard browser test: missing ${why.join(", ")} !!!\n`);
  return why.join(", ");
}

async function launch(profile: string): Promise<BrowserContext> {
  return await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1400, height: 900 },
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

async function shot(page: Page, name: string): Promise<void> {
  await Deno.mkdir(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: `${ARTIFACTS}dashboard-${name}.png`, fullPage: true });
}

const ignore = missing() !== null;
const ignoreContainers = ignore || registryPrerequisitesMissing() !== null;

/** Collects console errors and warnings, page errors and failed requests. */
function watchProblems(page: Page): string[] {
  const problems: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error" || m.type() === "warning") problems.push(`${m.type()}: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`));
  page.on(
    "requestfailed",
    (r) => {
      // A streamed fetch body (pull progress, logs, events) that the page read to its end
      // or stopped is reported by Chromium as ERR_ABORTED, though every byte arrived: the
      // renderer closes the body's pipe before the network service reports completion.
      const streamed = /\/api\/v1\/(images\/pull|containers\/[^/]+\/logs|events)/.test(r.url());
      if (streamed && r.failure()?.errorText === "net::ERR_ABORTED") return;
      problems.push(`requestfailed: ${r.url()} ${r.failure()?.errorText ?? ""}`);
    },
  );
  return problems;
}

Deno.test({
  name: "dashboard: loads in chromium without console errors and lists a running pod",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const s = await TestSkiff.create();
    const profile = await Deno.makeTempDir({ prefix: "skiff-test-chromium-" });
    let ctx: BrowserContext | undefined;
    let podId: string | undefined;
    try {
      await s.start();
      const token = await s.adminToken();
      const pod = await s.client.call("RunPodSandbox", {
        config: {
          metadata: { name: "dash-pod", namespace: "dash", uid: crypto.randomUUID() },
          hostname: "dash-pod",
          log_directory: s.dir,
          linux: {
            security_context: {
              namespace_options: { network: "NODE", pid: "CONTAINER", ipc: "POD" },
            },
          },
        },
      });
      podId = pod.pod_sandbox_id;

      ctx = await launch(profile);
      const page = await ctx.newPage();
      const problems = watchProblems(page);

      // Without a token: the login form, and no data.
      await page.goto(s.adminUrl("/"));
      await page.waitForSelector("#login:not(.hidden)");
      await shot(page, "login");

      // With the token in the fragment, as `skiff dashboard` prints it.
      await page.goto(s.adminUrl(`/#token=${token}`));
      await page.waitForSelector("body[data-ready='1']", { timeout: 15000, state: "attached" })
        .catch((err) => {
          throw new Error(`${err.message}\nbrowser problems:\n${problems.join("\n")}`);
        });
      assertEquals(new URL(page.url()).hash, "", "the token must leave the address bar");
      assertStringIncludes(await page.textContent("#version") ?? "", "skiff");
      assertStringIncludes(await page.textContent("#conditions") ?? "", "RuntimeReady");
      // A CPU sample needs two readings, two seconds apart.
      await page.locator("#cpu-now", { hasText: "%" }).waitFor({ timeout: 15000 });
      await shot(page, "overview");

      await page.click("button[data-tab='pods']");
      const row = page.locator(`#table-pods tr[data-id='${podId}']`);
      await row.waitFor({ timeout: 15000 });
      const text = await row.innerText();
      assertStringIncludes(text, "dash-pod");
      assertStringIncludes(text, "ready");
      assertEquals(await page.textContent("#count-pods"), "1");
      await shot(page, "pods");

      await page.click("button[data-tab='images']");
      await page.click("button[data-tab='containers']");
      await page.click("button[data-tab='terminal']");
      await page.click("button[data-tab='overview']");
      assert(problems.length === 0, `browser problems:\n${problems.join("\n")}`);
    } finally {
      await ctx?.close().catch(() => {});
      await Deno.remove(profile, { recursive: true }).catch(() => {});
      if (podId) {
        await s.client.call("StopPodSandbox", { pod_sandbox_id: podId }).catch(() => {});
        await s.client.call("RemovePodSandbox", { pod_sandbox_id: podId }).catch(() => {});
      }
      await s.dispose();
    }
  },
});

Deno.test({
  name:
    "dashboard: pull with progress, a running container's log followed, echo hi in the terminal",
  ignore: ignoreContainers,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const registry = await TestRegistry.start();
    const s = await TestSkiff.create();
    const profile = await Deno.makeTempDir({ prefix: "skiff-test-chromium-" });
    let ctx: BrowserContext | undefined;
    try {
      const img = await pushBusyboxImage(registry, "dash/busybox:1");
      await s.start();
      const token = await s.adminToken();
      ctx = await launch(profile);
      const page = await ctx.newPage();
      const problems = watchProblems(page);
      await page.goto(s.adminUrl(`/#token=${token}`));
      await page.waitForSelector("body[data-ready='1']", { timeout: 15000, state: "attached" });

      // Pull through the dashboard's form: the progress box ends "done".
      await page.click("button[data-tab='images']");
      await page.fill("#pull-image", img.ref);
      await page.click("#pull-button");
      await page.locator(".pull.done").waitFor({ timeout: 30000 });
      await page.locator("#table-images td", { hasText: "dash/busybox" }).first().waitFor();
      await shot(page, "images");

      // A pod with a container that writes a numbered line every 200 ms.
      const { containerId: ctrId } = await startLoggingPod(s, {
        pod: "web",
        namespace: "dash",
        container: "ticker",
        image: img.ref,
        script: "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done",
      });

      // Live from events: the container appears without a reload.
      await page.click("button[data-tab='containers']");
      const row = page.locator(`#table-containers tr[data-id='${ctrId}']`);
      await row.locator(".state.running").waitFor({ timeout: 15000 });
      assertStringIncludes(await row.innerText(), "dash/web");
      await shot(page, "containers");

      // The log viewer follows: later lines keep arriving.
      await row.locator("button", { hasText: "Logs" }).click();
      await page.locator("#logview", { hasText: "tick 1" }).waitFor({ timeout: 15000 });
      const seen = Number(/tick (\d+)\s*$/.exec(await page.innerText("#logview"))?.[1] ?? 0);
      await page.locator("#logview", { hasText: `tick ${seen + 5}` }).waitFor({ timeout: 15000 });
      await shot(page, "logs");

      // The exec terminal: an interactive shell over WebSocket (v5.channel.k8s.io).
      await page.click("button[data-tab='containers']");
      await row.locator("button", { hasText: "Shell" }).click();
      await page.locator("#term-status", { hasText: "connected" }).waitFor({ timeout: 15000 });
      await page.locator(".xterm-rows", { hasText: "#" }).waitFor({ timeout: 15000 });
      await page.locator(".xterm-helper-textarea").focus();
      await page.keyboard.type("echo hi\n");
      // The command's output on a row of its own (the typed command line holds "hi" too).
      await page.locator(".xterm-rows > div").filter({ hasText: /^\s*hi\s*$/ }).first()
        .waitFor({ timeout: 15000 });
      await shot(page, "terminal");
      assert(problems.length === 0, `browser problems:\n${problems.join("\n")}`);

      const audit = await Deno.readTextFile(`${s.rootDir}/audit.log`);
      assertEquals(JSON.parse(audit.trim().split("\n")[0]).action, "exec");
    } finally {
      await ctx?.close().catch(() => {});
      await Deno.remove(profile, { recursive: true }).catch(() => {});
      await s.dispose();
      await registry.stop();
    }
  },
});
