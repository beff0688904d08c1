/**
 * conmon SIGKILLed under a running container: Skiff notices that the container lost its
 * monitor (no exit code can be recorded, no log written), reports it with a reason instead
 * of RUNNING, and stop and remove still work and clean everything.
 */
import {
  assert,
  assertConsistent,
  assertNoLeaks,
  faultPrerequisitesMissing,
  FaultWorld,
  sleep,
  teardownThroughCri,
} from "./helpers.ts";

const ignore = faultPrerequisitesMissing() !== null;

Deno.test({
  name: "conmon SIGKILLed under a running container: noticed, then stop/remove clean up",
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const w = await FaultWorld.create();
    try {
      await w.skiff.start();
      await w.pullImage();
      const pod = await w.pod();
      const victim = await w.container(pod, "victim");
      const bystander = await w.container(pod, "bystander");
      for (const id of [victim, bystander]) {
        await w.client.call("StartContainer", { container_id: id });
      }
      const info = async (id: string) =>
        JSON.parse(
          (await w.client.call("ContainerStatus", { container_id: id, verbose: true })).info.info,
        ) as { pid: number; conmonPid: number };
      const { pid, conmonPid } = await info(victim);
      assert.ok(pid > 0 && conmonPid > 0);
      Deno.kill(conmonPid, "SIGKILL");

      // Skiff notices within a few seconds, without being asked to stop anything.
      let status = (await w.client.call("ContainerStatus", { container_id: victim })).status!;
      for (let i = 0; i < 100 && status.state === "CONTAINER_RUNNING"; i++) {
        await sleep(50);
        status = (await w.client.call("ContainerStatus", { container_id: victim })).status!;
      }
      console.log(`after conmon's death: ${status.state} ${status.reason}: ${status.message}`);
      assert.ok(
        status.state === "CONTAINER_EXITED" || status.state === "CONTAINER_UNKNOWN",
        `the container is still reported ${status.state} without its monitor`,
      );
      assert.notEqual(status.reason, "");
      assert.match(status.message, /conmon/);
      // The other container of the pod is untouched.
      const other = (await w.client.call("ContainerStatus", { container_id: bystander })).status!;
      assert.equal(other.state, "CONTAINER_RUNNING");
      await assertConsistent(w.skiff, "after conmon was killed");

      // Stop and remove still work, and leave nothing (the orphaned process included).
      await w.client.call("StopContainer", { container_id: victim, timeout: "2" });
      const stopped = (await w.client.call("ContainerStatus", { container_id: victim })).status!;
      assert.equal(stopped.state, "CONTAINER_EXITED");
      assert.match(stopped.message, /conmon/);
      await w.client.call("RemoveContainer", { container_id: victim });
      let gone = false;
      for (let i = 0; i < 100 && !gone; i++) {
        try {
          Deno.statSync(`/proc/${pid}/stat`);
          await sleep(20);
        } catch {
          gone = true;
        }
      }
      assert.ok(gone, `the container's process ${pid} outlived its removal`);
      await teardownThroughCri(w.skiff);
      await assertNoLeaks(w, "after conmon was killed");
    } catch (err) {
      console.error(`skiff log tail:\n${(await w.skiff.log()).slice(-3000)}`);
      throw err;
    } finally {
      await w.dispose();
    }
  },
});
