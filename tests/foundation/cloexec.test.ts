/** Children of Skiff inherit no descriptor but stdio (the CRI socket least of all). */
import assert from "node:assert/strict";
import * as net from "node:net";
import { markAllDescriptorsCloexec } from "../../linux/cloexec.ts";
import { makeTempDir } from "../helpers/env.ts";

async function childSocketFds(): Promise<string[]> {
  const out = await new Deno.Command("find", {
    args: ["/proc/self/fd", "-mindepth", "1", "-maxdepth", "1", "-lname", "socket:*"],
    stdout: "piped",
  }).output();
  return new TextDecoder().decode(out.stdout).split("\n").filter(Boolean);
}

Deno.test("cloexec: a listening unix socket is not inherited by children once marked", async () => {
  const dir = await makeTempDir("cloexec");
  const server = net.createServer();
  try {
    await new Promise<void>((resolve) => server.listen(`${dir}/s.sock`, resolve));
    markAllDescriptorsCloexec();
    assert.deepEqual(await childSocketFds(), []);
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await Deno.remove(dir, { recursive: true });
  }
});
