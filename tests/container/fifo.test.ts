/** conmon's sync/start FIFOs are made through FFI, with the exact mode and clear errors. */
import assert from "node:assert/strict";
import { mkfifoSync } from "../../runtime/linux/fifo.ts";

Deno.test("mkfifoSync: a 0600 FIFO; an existing path or a missing dir is a clear error", () => {
  const dir = Deno.makeTempDirSync({ prefix: "skiff-test-fifo-" });
  try {
    mkfifoSync(`${dir}/sync`);
    const st = Deno.lstatSync(`${dir}/sync`);
    assert.ok(st.isFifo);
    assert.equal(st.mode! & 0o777, 0o600);
    assert.throws(() => mkfifoSync(`${dir}/sync`), /mkfifo .*sync: the path exists/);
    assert.throws(() => mkfifoSync(`${dir}/missing/sync`), /no such directory/);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
