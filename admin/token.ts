/** The admin bearer token: made on first start into a 0600 file, then reused. */
import { dirname } from "node:path";

export async function loadOrCreateToken(path: string): Promise<string> {
  try {
    const t = (await Deno.readTextFile(path)).trim();
    if (t) return t;
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  await Deno.mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  const token = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  const tmp = `${path}.tmp-${Deno.pid}`;
  await Deno.writeTextFile(tmp, token + "\n", { mode: 0o600 });
  await Deno.chmod(tmp, 0o600);
  await Deno.rename(tmp, path);
  return token;
}
