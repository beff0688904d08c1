/** The metadata store: migrations, typed collections, transactions, crash safety. */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { MIGRATIONS, Store } from "../../store/mod.ts";
import { makeTempDir } from "../helpers/env.ts";

async function withDir(fn: (dir: string) => Promise<void> | void) {
  const dir = await makeTempDir("store");
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("store: opens in WAL mode at the newest schema version", async () => {
  await withDir((dir) => {
    const s = new Store(`${dir}/db/skiff.db`);
    try {
      assert.equal(s.schemaVersion, MIGRATIONS.length);
      const mode = s.db.prepare("PRAGMA journal_mode").get() as { journal_mode: string };
      assert.equal(mode.journal_mode, "wal");
    } finally {
      s.close();
    }
  });
});

Deno.test("store: migrates an older database in order, keeping its rows", async () => {
  await withDir((dir) => {
    const path = `${dir}/skiff.db`;
    const old = new DatabaseSync(path);
    old.exec(MIGRATIONS[0]);
    old.exec("PRAGMA user_version = 1");
    old.prepare("INSERT INTO records VALUES ('pods', 'a', '{\"n\":1}', 0)").run();
    old.close();
    const s = new Store(path);
    try {
      assert.equal(s.schemaVersion, MIGRATIONS.length);
      assert.deepEqual(s.collection<{ n: number }>("pods").get("a"), { n: 1 });
    } finally {
      s.close();
    }
  });
});

Deno.test("store: refuses a database from a newer Skiff", async () => {
  await withDir((dir) => {
    const path = `${dir}/skiff.db`;
    const db = new DatabaseSync(path);
    db.exec(`PRAGMA user_version = ${MIGRATIONS.length + 5}`);
    db.close();
    assert.throws(() => new Store(path), /newer than this Skiff knows/);
  });
});

Deno.test("store: typed collections: put, get, list, secondary keys, delete", async () => {
  await withDir((dir) => {
    const s = new Store(`${dir}/skiff.db`);
    try {
      interface Ctr {
        id: string;
        pod: string;
        state: string;
      }
      const c = s.collection<Ctr>("containers");
      const other = s.collection<Ctr>("other");
      c.put("c1", { id: "c1", pod: "p1", state: "created" }, "p1");
      c.put("c2", { id: "c2", pod: "p1", state: "running" }, "p1");
      c.put("c3", { id: "c3", pod: "p2", state: "running" }, "p2");
      other.put("c1", { id: "c1", pod: "zz", state: "x" });
      assert.equal(c.get("c1")?.state, "created");
      assert.equal(c.count(), 3);
      assert.deepEqual(c.listBySecondary("p1").map((x) => x.id), ["c1", "c2"]);
      c.put("c1", { id: "c1", pod: "p1", state: "exited" }, "p1");
      assert.equal(c.get("c1")?.state, "exited");
      assert.equal(c.delete("c2"), true);
      assert.equal(c.delete("c2"), false);
      assert.deepEqual(c.list().map((x) => x.id), ["c1", "c3"]);
      assert.equal(other.get("c1")?.pod, "zz");
      assert.equal(c.get("missing"), undefined);
    } finally {
      s.close();
    }
  });
});

Deno.test("store: a failed transaction leaves nothing behind", async () => {
  await withDir((dir) => {
    const s = new Store(`${dir}/skiff.db`);
    try {
      const c = s.collection<number>("n");
      c.put("keep", 1);
      assert.throws(() =>
        s.transaction(() => {
          c.put("a", 2);
          c.delete("keep");
          throw new Error("half-way");
        }), /half-way/);
      assert.equal(c.get("a"), undefined);
      assert.equal(c.get("keep"), 1);
    } finally {
      s.close();
    }
  });
});

const WRITER = `
import { Store } from ${JSON.stringify(new URL("../../store/mod.ts", import.meta.url).href)};
const s = new Store(Deno.args[0]);
const c = s.collection("rows");
const enc = new TextEncoder();
for (let i = 0; ; i++) {
  s.transaction(() => {
    c.put("r" + i, { i, pad: "x".repeat(200) }, "g" + (i % 7));
    c.put("last", { i });
  });
  // Reported only after COMMIT returned: every reported row must survive the kill.
  Deno.stdout.writeSync(enc.encode(i + "\\n"));
}
`;

Deno.test("store: a writer SIGKILLed mid-stream leaves a database holding every committed row", async () => {
  await withDir(async (dir) => {
    const db = `${dir}/crash.db`;
    await Deno.writeTextFile(`${dir}/writer.ts`, WRITER);
    for (let round = 0; round < 3; round++) {
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "--cached-only", `${dir}/writer.ts`, db],
        stdout: "piped",
        stderr: "inherit",
        cwd: new URL("../..", import.meta.url).pathname,
      }).spawn();
      const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
      let buf = "";
      let committed = -1;
      const target = 300 + round * 100;
      while (committed < target) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        const lines = buf.split("\n");
        buf = lines.pop()!;
        if (lines.length) committed = Number(lines[lines.length - 1]);
      }
      child.kill("SIGKILL");
      await reader.cancel().catch(() => {});
      await child.status;
      assert.ok(committed >= target, `writer reached ${committed}`);

      const s = new Store(db);
      try {
        const rows = s.collection<{ i: number }>("rows");
        for (let i = 0; i <= committed; i++) {
          assert.equal(rows.get(`r${i}`)?.i, i, `row ${i} of ${committed} survived`);
        }
        const last = s.collection<{ i: number }>("last").get("last");
        // "last" is written in the same transaction as its row: never ahead of the rows.
        const rowsTotal = rows.count();
        assert.ok(last === undefined || rows.get(`r${last.i}`), "last points at a stored row");
        assert.ok(rowsTotal >= committed + 1);
        const integrity = s.db.prepare("PRAGMA integrity_check").get() as Record<string, string>;
        assert.equal(Object.values(integrity)[0], "ok");
      } finally {
        s.close();
      }
    }
  });
});
