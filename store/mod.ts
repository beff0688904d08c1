/**
 * Skiff's metadata store: SQLite (node:sqlite, WAL) under the root dir. Writes are
 * transactional, so a crash leaves either the old or the new state.
 *
 * Domain modules keep their records in typed collections (JSON documents by ID, with an
 * optional secondary key), so each owner evolves its own record shape without touching a
 * shared schema; the schema itself is versioned and migrated in order at open.
 */
import { DatabaseSync, type SQLInputValue } from "node:sqlite";
import { dirname } from "node:path";
import { chmodSync, closeSync, mkdirSync, openSync } from "node:fs";

/** Schema migrations, applied in order; index + 1 is the schema version. */
export const MIGRATIONS: readonly string[] = [
  `CREATE TABLE records (
     collection TEXT NOT NULL,
     id TEXT NOT NULL,
     data TEXT NOT NULL,
     updated_at INTEGER NOT NULL,
     PRIMARY KEY (collection, id)
   ) WITHOUT ROWID`,
  `ALTER TABLE records ADD COLUMN secondary TEXT;
   CREATE INDEX records_secondary ON records (collection, secondary) WHERE secondary IS NOT NULL`,
];

/** The database file, made 0600 before SQLite opens it (its dir 0700): records hold env. */
function createPrivately(path: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  closeSync(openSync(path, "a", 0o600));
  chmodSync(path, 0o600);
}

function privateFiles(path: string): void {
  for (const f of [path, `${path}-wal`, `${path}-shm`]) {
    try {
      chmodSync(f, 0o600);
    } catch {
      // -wal/-shm exist only while the database is open in WAL mode
    }
  }
}

export class Store {
  readonly db: DatabaseSync;
  private depth = 0;

  constructor(readonly path: string) {
    if (path !== ":memory:") createPrivately(path);
    this.db = new DatabaseSync(path);
    this.db.exec("PRAGMA journal_mode = WAL");
    // SQLite gives -wal and -shm the database file's mode; files left by an older Skiff
    // (made 0644) are narrowed here.
    if (path !== ":memory:") privateFiles(path);
    // NORMAL (in WAL mode): every transaction is atomic and survives a crash or SIGKILL of
    // Skiff; only a power loss may drop the last ones, and a power loss takes every
    // container, mount and namespace with it (recovery reconciles what is left). FULL put an
    // fsync on the event loop for every record write: ~7% of the daemon's time under pod
    // churn, every other call waiting behind it.
    this.db.exec("PRAGMA synchronous = NORMAL");
    this.db.exec("PRAGMA busy_timeout = 5000");
    this.migrate();
  }

  get schemaVersion(): number {
    const row = this.db.prepare("PRAGMA user_version").get() as { user_version: number };
    return row.user_version;
  }

  private migrate(): void {
    const from = this.schemaVersion;
    if (from > MIGRATIONS.length) {
      throw new Error(
        `${this.path}: schema version ${from} is newer than this Skiff knows (${MIGRATIONS.length}); upgrade Skiff`,
      );
    }
    for (let v = from; v < MIGRATIONS.length; v++) {
      this.transaction(() => {
        this.db.exec(MIGRATIONS[v]);
        this.db.exec(`PRAGMA user_version = ${v + 1}`);
      });
    }
  }

  /** Runs `fn` in one transaction (nested calls join the outer one). */
  transaction<T>(fn: () => T): T {
    if (this.depth > 0) return fn();
    this.db.exec("BEGIN IMMEDIATE");
    this.depth++;
    try {
      const result = fn();
      this.db.exec("COMMIT");
      return result;
    } catch (err) {
      this.db.exec("ROLLBACK");
      throw err;
    } finally {
      this.depth--;
    }
  }

  collection<T>(name: string): Collection<T> {
    return new Collection<T>(this, name);
  }

  close(): void {
    if (this.db.isOpen) this.db.close();
  }
}

export class Collection<T> {
  private readonly stmts;
  constructor(private readonly store: Store, readonly name: string) {
    const db = store.db;
    this.stmts = {
      get: db.prepare("SELECT data FROM records WHERE collection = ? AND id = ?"),
      put: db.prepare(
        `INSERT INTO records (collection, id, data, updated_at, secondary) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (collection, id) DO UPDATE SET data = excluded.data,
           updated_at = excluded.updated_at, secondary = excluded.secondary`,
      ),
      del: db.prepare("DELETE FROM records WHERE collection = ? AND id = ?"),
      list: db.prepare("SELECT data FROM records WHERE collection = ? ORDER BY id"),
      bySecondary: db.prepare(
        "SELECT data FROM records WHERE collection = ? AND secondary = ? ORDER BY id",
      ),
      count: db.prepare("SELECT COUNT(*) AS n FROM records WHERE collection = ?"),
    };
  }

  get(id: string): T | undefined {
    const row = this.stmts.get.get(this.name, id) as { data: string } | undefined;
    return row ? JSON.parse(row.data) as T : undefined;
  }

  /** Inserts or replaces. `secondary` is an optional lookup key (e.g. a pod's sandbox ID). */
  put(id: string, value: T, secondary?: string): void {
    const args: SQLInputValue[] = [
      this.name,
      id,
      JSON.stringify(value),
      Date.now(),
      secondary ?? null,
    ];
    this.stmts.put.run(...args);
  }

  delete(id: string): boolean {
    return Number(this.stmts.del.run(this.name, id).changes) > 0;
  }

  list(): T[] {
    return (this.stmts.list.all(this.name) as { data: string }[]).map((r) => JSON.parse(r.data));
  }

  listBySecondary(key: string): T[] {
    return (this.stmts.bySecondary.all(this.name, key) as { data: string }[]).map((r) =>
      JSON.parse(r.data)
    );
  }

  count(): number {
    return Number((this.stmts.count.get(this.name) as { n: number | bigint }).n);
  }

  transaction<R>(fn: () => R): R {
    return this.store.transaction(fn);
  }
}
