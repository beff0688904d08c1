/**
 * An image with 61 layers (busybox plus 60 tiny ones: more than one mount(2) page of
 * overlay options holds under a real root_dir) pulled from a real registry on 127.0.0.1 and
 * run by a real Skiff with conmon + runc: the topmost layer wins, the lowest shows, a
 * whiteout hides; a created container whose rootfs vanished (a node reboot) is remounted by
 * StartContainer; and a pod in its own user namespace runs it over idmapped layer clones.
 */
import assert from "node:assert/strict";
import type { DeepPartial } from "../../cri/handler.ts";
import type { ContainerConfig, PodSandboxConfig } from "../../cri/types.ts";
import { isMountedSync, MNT_DETACH, umountSync } from "../../linux/mounts.ts";
import { overlayLowerdirPlus } from "../../linux/overlay.ts";
import { file, pushBusyboxImage, whiteout } from "../helpers/oci_build.ts";
import { registryPrerequisitesMissing, TestRegistry } from "../helpers/registry.ts";
import { TestSkiff } from "../helpers/skiff.ts";
import { runtimePrerequisitesMissing } from "./fixture.ts";

const missing = runtimePrerequisitesMissing() ?? registryPrerequisitesMissing();
const noLowerdirPlus = missing === null && !overlayLowerdirPlus();
if (noLowerdirPlus) {
  console.warn("SKIPPING the 61-layer image test: this kernel's overlayfs lacks lowerdir+");
}
const EXTRA = 60;

let seq = 0;
function pod(s: TestSkiff, userns = false): DeepPartial<PodSandboxConfig> {
  const n = ++seq;
  const map = { container_id: 0, host_id: 1000, length: 100000 };
  return {
    metadata: { name: `layers${n}`, namespace: "ltest", uid: crypto.randomUUID(), attempt: 0 },
    hostname: `layers${n}`,
    log_directory: `${s.dir}/pod-logs/${n}`,
    linux: {
      security_context: {
        namespace_options: {
          // A pod in its own user namespace cannot share the node's network namespace.
          network: userns ? "POD" : "NODE",
          pid: "CONTAINER",
          ipc: "POD",
          ...(userns ? { userns_options: { mode: "POD", uids: [map], gids: [map] } } : {}),
        },
      },
    },
  };
}

async function create(
  s: TestSkiff,
  podId: string,
  config: DeepPartial<PodSandboxConfig>,
  image: string,
): Promise<string> {
  const name = `c${++seq}`;
  const ctr: DeepPartial<ContainerConfig> = {
    metadata: { name, attempt: 0 },
    image: { image },
    command: ["sleep", "3600"],
    log_path: `${name}.log`,
    linux: { security_context: config.linux?.security_context },
  };
  const r = await s.client.call("CreateContainer", {
    pod_sandbox_id: podId,
    config: ctr,
    sandbox_config: config,
  });
  return r.container_id;
}

/** What the container sees of its layers, as one line per check. */
async function layerView(s: TestSkiff, id: string): Promise<string[]> {
  const script = "cat /layers/shared; echo; cat /layers/own-1; echo; " +
    "cat /etc/group | head -1; test -L /bin/yes && echo yes-shown || echo hidden; " +
    "stat -c %u /etc/passwd";
  const r = await s.client.call("ExecSync", {
    container_id: id,
    cmd: ["sh", "-c", script],
    timeout: "20",
  });
  const text = new TextDecoder().decode(r.stdout);
  assert.equal(r.exit_code, 0, text + new TextDecoder().decode(r.stderr));
  return text.trim().split("\n");
}

/** Top layer's `shared`, layer 1's own file, busybox's /etc/group, the whiteout, owner 0. */
const EXPECTED = [`${EXTRA}`, "1", "root:x:0:", "hidden", "0"];

Deno.test({
  name: "61-layer image: runs, top wins, lowest shows, whiteout hides; reboot remount; userns",
  ignore: missing !== null || noLowerdirPlus,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const registry = await TestRegistry.start();
    const s = await TestSkiff.create({ bridge: true });
    // A userns pod's root (uid 1000 on the node) must traverse to the rootfs in the state dir.
    await Deno.chmod(s.dir, 0o711);
    try {
      const extraLayers = Array.from({ length: EXTRA }, (_, j) => {
        const i = j + 1;
        return [
          file(`layers/own-${i}`, `${i}`),
          file("layers/shared", `${i}`),
          ...(i === 30 ? [whiteout("bin/yes")] : []),
        ];
      });
      const img = await pushBusyboxImage(registry, "ltest/many:1", { extraLayers });
      assert.equal(img.built[0].layers.length, EXTRA + 1);
      await s.start();
      await s.client.call("PullImage", { image: { image: img.ref } });

      await t.step("a container from the 61-layer image starts and sees its layers", async () => {
        const config = pod(s);
        const { pod_sandbox_id: podId } = await s.client.call("RunPodSandbox", { config });
        const id = await create(s, podId, config, img.ref);
        await s.client.call("StartContainer", { container_id: id });
        assert.deepEqual(await layerView(s, id), EXPECTED);

        // As after a node reboot: a created container's overlay is gone; start remounts it.
        const later = await create(s, podId, config, img.ref);
        const rootfs = `${s.stateDir}/containers/${later}/rootfs`;
        assert(isMountedSync(rootfs), `${rootfs} is mounted at create`);
        assert.equal(umountSync(rootfs, MNT_DETACH).errno, 0);
        assert(!isMountedSync(rootfs));
        await s.client.call("StartContainer", { container_id: later });
        assert(isMountedSync(rootfs), "StartContainer mounted the rootfs again");
        assert.deepEqual(await layerView(s, later), EXPECTED);
        await s.client.call("StopPodSandbox", { pod_sandbox_id: podId });
        await s.client.call("RemovePodSandbox", { pod_sandbox_id: podId });
        assert(!isMountedSync(rootfs), "removed with its pod");
      });

      await t.step("in a pod's own user namespace, over idmapped layer clones", async () => {
        const config = pod(s, true);
        const { pod_sandbox_id: podId } = await s.client.call("RunPodSandbox", { config });
        const id = await create(s, podId, config, img.ref);
        await s.client.call("StartContainer", { container_id: id });
        assert.deepEqual(await layerView(s, id), EXPECTED, "image owners show as root inside");
        const status = await s.client.call("ContainerStatus", { container_id: id, verbose: true });
        const pid = (JSON.parse(status.info.info) as { pid: number }).pid;
        const uidMap = await Deno.readTextFile(`/proc/${pid}/uid_map`);
        assert.equal(uidMap.trim().split(/\s+/).join(" "), "0 1000 100000");
        await s.client.call("StopPodSandbox", { pod_sandbox_id: podId });
        await s.client.call("RemovePodSandbox", { pod_sandbox_id: podId });
      });
    } finally {
      await s.dispose();
      await registry.stop();
    }
  },
});
