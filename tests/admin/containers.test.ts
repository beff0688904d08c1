/**
 * The CLI and the REST API against real containers: an image built by the test, pushed to
 * a real registry on 127.0.0.1 and pulled by `skiff pull`; a host-network pod with a
 * container (conmon + runc) that writes a numbered line every 100 ms. Checks the --output
 * json shapes, exec (ExecSync and streamed stdin over the CRI streaming server), stats,
 * inspect, rm, and a REST log follow across a real rotation (rename + ReopenContainerLog)
 * with no line lost.
 */
import { assert, assertEquals, assertMatch, assertStringIncludes } from "./assert.ts";
import { startLoggingPod } from "./pod.ts";
import { skiffRunArgs, TestSkiff } from "../helpers/skiff.ts";
import { missingPrerequisites } from "../helpers/env.ts";
import { registryPrerequisitesMissing, TestRegistry } from "../helpers/registry.ts";
import { file, pushBusyboxImage } from "../helpers/oci_build.ts";
import { runRemoteCommand } from "../../cli/remote.ts";
import { WS_TOKEN_PROTOCOL_PREFIX } from "../../admin/mod.ts";

const ignore = missingPrerequisites({ root: true, binaries: ["runc", "conmon"] }) !== null ||
  registryPrerequisitesMissing() !== null;

async function skiffCli(
  s: TestSkiff,
  args: string[],
  stdin?: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: skiffRunArgs([...args]),
    env: { SKIFF_SOCKET: s.socket },
    stdout: "piped",
    stderr: "piped",
    stdin: stdin === undefined ? "null" : "piped",
  }).spawn();
  if (stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(stdin));
    await w.close();
  }
  const out = await child.output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test({
  name: "cli+rest: real containers (pull, ps, logs, exec, stats, inspect, rm, log rotation)",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const registry = await TestRegistry.start();
    const s = await TestSkiff.create();
    try {
      const img = await pushBusyboxImage(registry, "clitest/busybox:1");
      await s.start();
      const auth = { authorization: `Bearer ${await s.adminToken()}` };

      await t.step("skiff pull / images", async () => {
        const pull = await skiffCli(s, ["pull", img.ref, "-o", "json"]);
        assertEquals(pull.code, 0, pull.stderr);
        const p = JSON.parse(pull.stdout);
        assertEquals(p.image, img.ref);
        assertMatch(p.image_ref, /^sha256:[0-9a-f]{64}$/);
        const images = await skiffCli(s, ["images", "-o", "json"]);
        const list = JSON.parse(images.stdout).images;
        assert(list.some((i: { repo_tags: string[] }) => i.repo_tags.includes(img.ref)));
        // With the config (not a bare socket) the CLI pulls through the admin API's pull
        // stream, which carries per-layer bytes; no PullImage reaches the gRPC socket.
        const big = await pushBusyboxImage(registry, "clitest/big:1", {
          extraLayers: [[file("blob.bin", crypto.getRandomValues(new Uint8Array(60000)))]],
        });
        const grpcPulls = () => (s.log().then((l) => l.split("method=PullImage").length - 1));
        const before = await grpcPulls();
        assert(before >= 1, "the first pull (over the socket) is logged as a gRPC PullImage");
        const viaAdmin = await new Deno.Command(Deno.execPath(), {
          args: skiffRunArgs(["pull", big.ref, "-c", s.configPath]),
          env: { SKIFF_PROGRESS: "1" },
          stdout: "piped",
          stderr: "piped",
        }).output();
        const dec = new TextDecoder();
        assertEquals(viaAdmin.code, 0, dec.decode(viaAdmin.stderr));
        assertMatch(dec.decode(viaAdmin.stdout), /^Image is up to date for sha256:[0-9a-f]{64} \(/);
        assertStringIncludes(dec.decode(viaAdmin.stderr), `Pulling ${big.ref}`);
        assertEquals(await grpcPulls(), before);

        const table = await skiffCli(s, ["images"]);
        assertMatch(table.stdout, /^IMAGE\s+TAG\s+IMAGE ID\s+SIZE\n/);
        assertStringIncludes(table.stdout, `${registry.host}/clitest/busybox   1`);
      });

      const { podId, containerId: ctr } = await startLoggingPod(s, {
        pod: "clipod",
        namespace: "cli",
        container: "counter",
        image: img.ref,
        script: "i=0; while true; do echo n=$i; i=$((i+1)); sleep 0.1; done",
      });

      await t.step("skiff ps / pods", async () => {
        const ps = JSON.parse((await skiffCli(s, ["ps", "-o", "json"])).stdout);
        const c = ps.containers.find((x: { id: string }) => x.id === ctr);
        assertEquals([c.state, c.metadata.name, c.pod_sandbox_id], [
          "CONTAINER_RUNNING",
          "counter",
          podId,
        ]);
        const table = (await skiffCli(s, ["ps"])).stdout.split("\n");
        assertMatch(
          table[0],
          /^CONTAINER\s+IMAGE\s+CREATED\s+STATE\s+NAME\s+ATTEMPT\s+POD ID\s+POD$/,
        );
        assertMatch(
          table[1],
          new RegExp(`^${ctr.slice(0, 13)}\\s.*Running\\s+counter\\s+0\\s.*clipod$`),
        );
        const quiet = await skiffCli(s, ["pods", "-q"]);
        assertEquals(quiet.stdout, `${podId}\n`);
      });

      await t.step("skiff logs --tail and -f", async () => {
        await new Promise((r) => setTimeout(r, 500));
        const logs = await skiffCli(s, ["logs", "--tail", "2", ctr]);
        assertEquals(logs.code, 0, logs.stderr);
        const lines = logs.stdout.trimEnd().split("\n");
        assertEquals(lines.length, 2);
        assertMatch(lines[1], /^n=\d+$/);
        const stamped = await skiffCli(s, ["logs", "--tail", "1", "-t", ctr]);
        assertMatch(stamped.stdout, /^\d{4}-\d\d-\d\dT[\d:.]+(Z|[+-]\d\d:\d\d) n=\d+\n$/);
        // --since with a duration keeps recent lines only.
        const recent = await skiffCli(s, ["logs", "--since", "1s", ctr]);
        const count = recent.stdout.trimEnd().split("\n").length;
        assert(count >= 3 && count <= 15, recent.stdout);

        // -f keeps printing until interrupted; SIGINT ends it cleanly.
        const follow = new Deno.Command(Deno.execPath(), {
          args: skiffRunArgs(["logs", "-f", "--tail", "0", ctr]),
          env: { SKIFF_SOCKET: s.socket },
          stdout: "piped",
          stderr: "null",
          stdin: "null",
        }).spawn();
        const reader = follow.stdout.getReader();
        let got = "";
        while ((got.match(/\n/g) ?? []).length < 5) {
          const r = await reader.read();
          if (r.done) break;
          got += new TextDecoder().decode(r.value);
        }
        follow.kill("SIGINT");
        const code = (await follow.status).code;
        reader.releaseLock();
        await follow.stdout.cancel().catch(() => {});
        assertEquals(code, 0);
        const nums = [...got.matchAll(/^n=(\d+)$/gm)].map((m) => Number(m[1]));
        assert(nums.length >= 5, got);
        for (let i = 1; i < nums.length; i++) assertEquals(nums[i], nums[i - 1] + 1);
      });

      await t.step("skiff exec (ExecSync and streamed stdin)", async () => {
        const hi = await skiffCli(s, ["exec", ctr, "echo", "hi"]);
        assertEquals([hi.code, hi.stdout], [0, "hi\n"]);
        const three = await skiffCli(s, ["exec", ctr, "sh", "-c", "echo oops >&2; exit 3"]);
        assertEquals([three.code, three.stderr], [3, "oops\n"]);
        const j = await skiffCli(s, ["exec", "-o", "json", ctr, "sh", "-c", "echo a; echo b >&2"]);
        assertEquals(JSON.parse(j.stdout), { exit_code: 0, stdout: "a\n", stderr: "b\n" });
        const cat = await skiffCli(s, ["exec", "-i", ctr, "sh", "-c", "cat; exit 4"], "piped in\n");
        assertEquals([cat.code, cat.stdout], [4, "piped in\n"], cat.stderr);
      });

      await t.step("skiff exec -it on a terminal (util-linux script gives it a pty)", async () => {
        if (missingPrerequisites({ binaries: ["script"] })) return;
        // script(1) takes one command line; every part of it is this test's own path or ID.
        const line = [
          Deno.execPath(),
          ...skiffRunArgs([]),
          `exec -it --socket ${s.socket} ${ctr} sh -c 'tty; exit 5'`,
        ].join(" ");
        const out = await new Deno.Command("script", {
          args: ["-qec", line, "/dev/null"],
          stdout: "piped",
          stderr: "piped",
          stdin: "null",
        }).output();
        const text = new TextDecoder().decode(out.stdout);
        assertEquals(out.code, 5, text + new TextDecoder().decode(out.stderr));
        // Two terminals translate "\n" in turn (the container's and script's), each adding
        // a "\r"; how many arrive depends on who flushed first.
        assertMatch(text, /\/dev\/pts\/\d+\r+\n/);
      });

      await t.step("WebSocket attach through the admin API (v5.channel.k8s.io)", async () => {
        const ac = new AbortController();
        let out = "";
        const token = await s.adminToken();
        const b64 = btoa(token).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
        const done = runRemoteCommand(
          s.adminUrl(`/api/v1/containers/${ctr}/attach?stdout=1&stderr=1`),
          {
            stdout: (b) => {
              out += new TextDecoder().decode(b);
              if ((out.match(/n=\d+\n/g) ?? []).length >= 3) ac.abort();
            },
            stderr: () => {},
            extraProtocols: [WS_TOKEN_PROTOCOL_PREFIX + b64],
            signal: ac.signal,
          },
        );
        const timer = setTimeout(() => ac.abort(), 15000);
        await done;
        clearTimeout(timer);
        assert((out.match(/n=\d+\n/g) ?? []).length >= 3, out);
        const audit = (await Deno.readTextFile(`${s.rootDir}/audit.log`)).trim().split("\n")
          .map((l) => JSON.parse(l));
        assert(audit.some((e) => e.action === "attach" && e.target === ctr), JSON.stringify(audit));
      });

      await t.step("skiff stats / inspect", async () => {
        const st = await skiffCli(s, ["stats", "-o", "json"]);
        assertEquals(st.code, 0, st.stderr);
        const mine = JSON.parse(st.stdout).stats.find((x: { attributes: { id: string } }) =>
          x.attributes.id === ctr
        );
        assert(mine, st.stdout);
        const table = await skiffCli(s, ["stats"]);
        assertMatch(table.stdout, /^CONTAINER\s+NAME\s+CPU %\s+MEM\s+DISK\s+INODES\n/);
        const ins = await skiffCli(s, ["inspect", ctr]);
        assertEquals(ins.code, 0, ins.stderr);
        const doc = JSON.parse(ins.stdout);
        assertEquals([doc.status.id, doc.status.state], [ctr, "CONTAINER_RUNNING"]);
        const insPod = JSON.parse((await skiffCli(s, ["inspect", podId])).stdout);
        assertEquals(insPod.status.id, podId);
        const insImg = JSON.parse((await skiffCli(s, ["inspect", img.ref])).stdout);
        assert(insImg.image.repo_tags.includes(img.ref));
      });

      await t.step("REST log follow loses no line across a rotation", async () => {
        const { status } = await s.client.call("ContainerStatus", { container_id: ctr });
        const logPath = status!.log_path;
        const ac = new AbortController();
        const res = await fetch(
          s.adminUrl(`/api/v1/containers/${ctr}/logs?follow=1&tail=5`),
          { headers: auth, signal: ac.signal },
        );
        const reader = res.body!.getReader();
        const dec = new TextDecoder();
        let text = "";
        const numbers = () => [...text.matchAll(/^n=(\d+)$/gm)].map((m) => Number(m[1]));
        const readUntil = async (pred: () => boolean) => {
          const deadline = Date.now() + 15000;
          while (!pred()) {
            if (Date.now() > deadline) throw new Error(`timed out; got:\n${text}`);
            const r = await reader.read();
            if (r.done) throw new Error(`stream ended; got:\n${text}`);
            text += dec.decode(r.value, { stream: true });
          }
        };
        try {
          await readUntil(() => numbers().length >= 8);
          // What kubelet does: rename the file, then ask the runtime to reopen it.
          await Deno.rename(logPath, `${logPath}.1`);
          await new Promise((r) => setTimeout(r, 300));
          await s.client.call("ReopenContainerLog", { container_id: ctr });
          const atRotation = numbers().at(-1)!;
          await readUntil(() => numbers().at(-1)! >= atRotation + 15);
          const ns = numbers();
          for (let i = 1; i < ns.length; i++) assertEquals(ns[i], ns[i - 1] + 1, text);
          // The new file exists and holds the lines written after the reopen.
          assertStringIncludes(await Deno.readTextFile(logPath), "stdout F n=");
        } finally {
          ac.abort();
          await reader.cancel().catch(() => {});
        }
      });

      await t.step("skiff rm -f container and pod", async () => {
        const stops = async () => (await s.log()).split("method=StopContainer").length - 1;
        const stopsBefore = await stops();
        const rm = await skiffCli(s, ["rm", "-f", ctr, "-o", "json"]);
        assertEquals(rm.code, 0, rm.stderr);
        // -f is --force here (not --follow): the container is stopped before removal.
        assertEquals(await stops(), stopsBefore + 1);
        assertEquals(JSON.parse(rm.stdout), { removed: [{ id: ctr, kind: "container" }] });
        const ps = JSON.parse((await skiffCli(s, ["ps", "-a", "-o", "json"])).stdout);
        assertEquals(ps.containers, []);
        const rmp = await skiffCli(s, ["rm", "-f", podId]);
        assertEquals([rmp.code, rmp.stdout], [0, `Removed pod ${podId}\n`]);
      });
    } finally {
      await s.dispose();
      await registry.stop();
    }
  },
});
