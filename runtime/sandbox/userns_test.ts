import assert from "node:assert/strict";
import { InvalidArgumentError } from "../../core/errors.ts";
import type { IDMapping, UserNamespace } from "../model.ts";
import { checkNoOverlap, planUserNamespace, procMapLine } from "./userns.ts";

const noHost = { network: false, pid: false, ipc: false };
const map = (container_id: number, host_id: number, length: number): IDMapping => ({
  container_id,
  host_id,
  length,
});
const pod = (uids: IDMapping[], gids = uids): UserNamespace => ({ mode: "POD", uids, gids });

Deno.test("userns: NODE or no option is the host's user namespace", () => {
  assert.deepEqual(planUserNamespace(null, noHost), null);
  assert.deepEqual(planUserNamespace({ mode: "NODE", uids: [], gids: [] }, noHost), null);
});

Deno.test("userns: POD with one mapping from container 0", () => {
  const m = planUserNamespace(pod([map(0, 1000, 100000)]), noHost);
  assert.deepEqual(m, { uids: map(0, 1000, 100000), gids: map(0, 1000, 100000) });
  assert.deepEqual(procMapLine(m!.uids), "0 1000 100000\n");
});

Deno.test("userns: every invalid option is INVALID_ARGUMENT saying what is wrong", () => {
  const cases: [UserNamespace, typeof noHost, RegExp][] = [
    [{ mode: "CONTAINER", uids: [], gids: [] }, noHost, /mode CONTAINER is not supported/],
    [{ mode: "TARGET", uids: [], gids: [] }, noHost, /mode TARGET is not supported/],
    [pod([map(0, 1000, 10), map(10, 5000, 10)]), noHost, /exactly one uid mapping, got 2/],
    [pod([map(0, 1000, 10)], []), noHost, /exactly one gid mapping, got 0/],
    [pod([]), noHost, /exactly one uid mapping, got 0/],
    [pod([map(1, 1000, 10)]), noHost, /leaves container uid 0 unmapped/],
    [pod([map(0, 1000, 0)]), noHost, /has length 0/],
    [pod([map(0, 0, 65536)]), noHost, /overlaps the host's root uid 0/],
    [pod([map(0, 2 ** 32 - 10, 100)]), noHost, /past the 32-bit/],
    [pod([map(0, -5, 10)]), noHost, /whole numbers/],
    [{ mode: "NODE", uids: [map(0, 1000, 1)], gids: [] }, noHost, /takes no uid\/gid mappings/],
    [pod([map(0, 1000, 10)]), { ...noHost, network: true }, /host's network/],
    [pod([map(0, 1000, 10)]), { ...noHost, pid: true, ipc: true }, /host's pid, ipc/],
  ];
  for (const [opts, host, msg] of cases) {
    assert.throws(
      () => planUserNamespace(opts, host),
      (e: Error) => e instanceof InvalidArgumentError && msg.test(e.message),
      `${JSON.stringify(opts)} should be refused with ${msg}`,
    );
  }
});

Deno.test("userns: host ranges of different pods may not overlap; one pod's attempts may", () => {
  const want = { uids: map(0, 65536, 65536), gids: map(0, 65536, 65536) };
  const other = { uid: "b", userns: { uids: map(0, 100000, 65536), gids: map(0, 1, 10) } };
  assert.throws(() => checkNoOverlap(want, "a", [other]), /overlaps the host range/);
  checkNoOverlap(want, "b", [other]);
  checkNoOverlap(want, "a", [{ uid: "c", userns: null }, {
    uid: "d",
    userns: { uids: map(0, 131072, 65536), gids: map(0, 131072, 65536) },
  }]);
});
