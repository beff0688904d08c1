/** Unit tests of the built-in RuntimeDefault seccomp profile. */
import { assert } from "../../tests/container/assert.ts";
import { DEFAULT_CAPABILITIES, defaultSeccompProfile } from "./mod.ts";

Deno.test("seccomp default: privileged syscalls open only with their capability", () => {
  const names = (p: ReturnType<typeof defaultSeccompProfile>) =>
    new Set(
      p.syscalls!.filter((s) => s.action === "SCMP_ACT_ALLOW" && !s.args).flatMap((s) => s.names),
    );
  const plain = names(defaultSeccompProfile(DEFAULT_CAPABILITIES));
  assert(plain.has("read") && plain.has("execve"));
  assert(!plain.has("unshare") && !plain.has("mount") && !plain.has("keyctl"));
  const admin = names(defaultSeccompProfile([...DEFAULT_CAPABILITIES, "CAP_SYS_ADMIN"]));
  assert(admin.has("unshare") && admin.has("mount"));
});
