/** The list replies' entry-caching codec writes exactly what protobufjs writes. */
import assert from "node:assert/strict";
import { listReplyCodec, loadCriRoot, messageCodec } from "./proto.ts";

const root = loadCriRoot();
/** Bytes to compare (protobufjs may hand back a Buffer). */
const b = (u: Uint8Array) => Array.from(u);

function container(id: string, state: string) {
  return Object.freeze({
    id,
    pod_sandbox_id: "p".repeat(64),
    metadata: { name: "main", attempt: 1 },
    image: { image: "registry.example/busybox:1", annotations: {} },
    image_ref: "sha256:" + "c".repeat(64),
    state,
    created_at: "1764491234123456789",
    labels: { "io.kubernetes.pod.name": "web", "app": "x" },
    annotations: { "io.kubernetes.container.hash": "abc" },
  });
}

Deno.test("listReplyCodec: the same bytes as protobufjs, cached entries and all", () => {
  const type = root.lookupType("runtime.v1.ListContainersResponse");
  const plain = messageCodec<unknown>(type);
  const cached = listReplyCodec<{ containers: { id: string; state: string }[] }>(type);
  const a = container("a".repeat(64), "CONTAINER_RUNNING");
  const e2 = container("b".repeat(64), "CONTAINER_EXITED");
  const reply = { containers: [a, e2] };
  const want = b(plain.encode(reply));
  assert.deepStrictEqual(b(cached.encode(reply)), want);
  assert.deepStrictEqual(b(cached.encode(reply)), want, "again, from the cache");
  // A changed record brings a new frozen entry: its new bytes, not the cached ones.
  const a2 = container("a".repeat(64), "CONTAINER_EXITED");
  const changed = { containers: [e2, a2] };
  assert.deepStrictEqual(b(cached.encode(changed)), b(plain.encode(changed)));
  const decoded = cached.decode(cached.encode(changed));
  assert.deepStrictEqual(decoded.containers.map((c) => c.state), [
    "CONTAINER_EXITED",
    "CONTAINER_EXITED",
  ]);
  // Unfrozen entries are encoded every time (nothing says they will not change).
  const loose = { ...container("c".repeat(64), "CONTAINER_CREATED") };
  const once = cached.encode({ containers: [loose] });
  loose.state = "CONTAINER_RUNNING";
  assert.deepStrictEqual(
    b(cached.encode({ containers: [loose] })),
    b(plain.encode({ containers: [loose] })),
  );
  assert.notDeepStrictEqual(b(once), b(cached.encode({ containers: [loose] })));
  assert.deepStrictEqual(b(cached.encode({})), b(plain.encode({})));
});

Deno.test("listReplyCodec: pod lists too; other replies are refused", () => {
  const type = root.lookupType("runtime.v1.ListPodSandboxResponse");
  const entry = Object.freeze({
    id: "p".repeat(64),
    metadata: { name: "web", namespace: "default", uid: "u", attempt: 0 },
    state: "SANDBOX_READY",
    created_at: "1",
    labels: {},
    annotations: { a: "b" },
    runtime_handler: "",
  });
  const reply = { items: [entry, entry] };
  assert.deepStrictEqual(
    b(listReplyCodec(type).encode(reply)),
    b(messageCodec(type).encode(reply)),
  );
  assert.throws(() => listReplyCodec(root.lookupType("runtime.v1.VersionResponse")));
});
