import assert from "node:assert/strict";
import { findBinary } from "./binaries.ts";

Deno.test("findBinary: the first executable in PATH; a cached one that went is searched again", () => {
  const dir = Deno.makeTempDirSync();
  try {
    for (const d of ["a", "b"]) Deno.mkdirSync(`${dir}/${d}`);
    const path = `${dir}/a:${dir}/b`;
    Deno.writeTextFileSync(`${dir}/b/tool`, "#!/bin/sh\n", { mode: 0o755 });
    Deno.writeTextFileSync(`${dir}/a/tool`, "not executable\n", { mode: 0o644 });
    assert.equal(findBinary("tool", path), `${dir}/b/tool`);
    assert.equal(findBinary("tool", path), `${dir}/b/tool`); // from the cache
    Deno.removeSync(`${dir}/b/tool`);
    assert.equal(findBinary("tool", path), null);
    Deno.chmodSync(`${dir}/a/tool`, 0o755);
    assert.equal(findBinary("tool", path), `${dir}/a/tool`);
    assert.equal(findBinary(`${dir}/a/tool`), `${dir}/a/tool`);
    assert.equal(findBinary(`${dir}/b/tool`), null);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
