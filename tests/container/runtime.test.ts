/**
 * The container runtime layer for real: ContainerService driving conmon and runc on an
 * overlay of a busybox layer, in pods with really pinned namespaces.
 */
import { assert, assertEquals, assertMatch, assertRejects } from "./assert.ts";
import { containerConfig, kv, RuntimeFixture, runtimePrerequisitesMissing } from "./fixture.ts";
import { AlreadyExistsError, NotFoundError } from "../../core/errors.ts";
import type { LinuxContainerSecurityContext } from "../../cri/types.ts";

const ignore = runtimePrerequisitesMissing() !== null;
const opts = { ignore, sanitizeOps: false, sanitizeResources: false };

function sc(over: Partial<LinuxContainerSecurityContext> = {}): LinuxContainerSecurityContext {
  return {
    privileged: false,
    run_as_username: "",
    readonly_rootfs: false,
    supplemental_groups: [],
    supplemental_groups_policy: "Merge",
    no_new_privs: false,
    masked_paths: [],
    readonly_paths: [],
    apparmor_profile: "",
    seccomp_profile_path: "",
    ...over,
  };
}

function capEff(stdout: string): bigint {
  const m = /CapEff:\s*([0-9a-f]+)/.exec(stdout);
  assert(m, `no CapEff in ${stdout}`);
  return BigInt(`0x${m[1]}`);
}
const hasBit = (mask: bigint, bit: number) => ((mask >> BigInt(bit)) & 1n) === 1n;

Deno.test(
  "containers: argv, env, workdir from image + CRI; pod hostname and DNS files; logs",
  opts,
  async () => {
    const f = await RuntimeFixture.create();
    try {
      f.addImage("ep", {
        Entrypoint: ["sh", "-c"],
        Cmd: ["echo from-image-cmd"],
        Env: ["FOO=img", "BAR=img"],
        WorkingDir: "/tmp",
      });
      const sb = await f.pod({ hostname: "web-1" });
      const img = {
        image: "ep",
        annotations: {},
        user_specified_image: "",
        runtime_handler: "",
        image_ref: "",
      };
      const a = await f.runToExit(sb, { image: img });
      assertEquals(a.stdout, "from-image-cmd\n");
      assertEquals([a.rec.exitCode, a.rec.reason], [0, "Completed"]);

      const b = await f.runToExit(sb, {
        image: img,
        args: [
          'echo "$FOO $BAR $(pwd) $(hostname)"; cat /etc/resolv.conf /etc/hostname; echo e1 >&2; printf part1; sleep 0.2; printf "part2\\n"; exit 3',
        ],
        envs: [kv("FOO", "cri")],
        working_dir: "/home",
      });
      const lines = b.stdout.split("\n");
      assertEquals(lines[0], "cri img /home web-1");
      assert(b.stdout.includes("nameserver 10.0.0.53"), b.stdout);
      assert(b.stdout.includes("web-1\n"));
      assert(b.stdout.includes("part1part2\n"));
      assertEquals([b.rec.exitCode, b.rec.reason], [3, "Error"]);
      const log = await f.logOf(b.id);
      assertMatch(log, /^\d{4}-\d\d-\d\dT\S+ stderr F e1$/m);
      assertMatch(log, /^\S+ stdout P part1$/m);
      assertMatch(log, /^\S+ stdout F part2$/m);
      assert(b.rec.finishedAt >= b.rec.startedAt && b.rec.startedAt >= b.rec.createdAt);

      // command alone drops the image's Cmd
      const c = await f.runToExit(sb, { image: img, command: ["echo", "only-command"] });
      assertEquals(c.stdout, "only-command\n");
    } finally {
      await f.dispose();
    }
  },
);

Deno.test("containers: users and groups by ID and by name from the image", opts, async () => {
  const f = await RuntimeFixture.create();
  try {
    f.addImage("app-user", { User: "app", Cmd: ["id"] });
    const sb = await f.pod();
    const img = (image: string) => ({
      image,
      annotations: {},
      user_specified_image: "",
      runtime_handler: "",
      image_ref: "",
    });
    const byImage = await f.runToExit(sb, { image: img("app-user") });
    assertEquals(
      byImage.stdout,
      "uid=1000(app) gid=1000(app) groups=1000(app),2000(extra),3000(other)\n",
    );
    const byId = await f.runToExit(sb, {
      command: ["id"],
      linux: {
        security_context: sc({
          run_as_user: { value: "1000" },
          run_as_group: { value: "3000" },
          supplemental_groups: ["4242"],
        }),
      },
    });
    assertEquals(
      byId.stdout,
      "uid=1000(app) gid=3000(other) groups=2000(extra),3000(other),4242\n",
    );
    const byName = await f.runToExit(sb, {
      command: ["sh", "-c", "id; echo $HOME"],
      linux: { security_context: sc({ run_as_username: "app" }) },
    });
    assertEquals(
      byName.stdout,
      "uid=1000(app) gid=1000(app) groups=1000(app),2000(extra),3000(other)\n/home/app\n",
    );
    await assertRejects(
      () =>
        f.service.create(
          sb.id,
          containerConfig({
            command: ["id"],
            linux: { security_context: sc({ run_as_username: "ghost" }) },
          }),
        ),
      NotFoundError,
      "ghost",
    );
  } finally {
    await f.dispose();
  }
});

Deno.test(
  "containers: capabilities, privileged, read-only rootfs, masked paths, seccomp",
  opts,
  async () => {
    const f = await RuntimeFixture.create();
    try {
      const sb = await f.pod();
      const status = ["sh", "-c", "grep -E 'CapEff|Seccomp:' /proc/self/status"];
      const dflt = await f.runToExit(sb, { command: status });
      const d = capEff(dflt.stdout);
      assert(hasBit(d, 0) && hasBit(d, 13), "CAP_CHOWN and CAP_NET_RAW by default"); // chown, net_raw
      assert(!hasBit(d, 12) && !hasBit(d, 21), "no CAP_NET_ADMIN or CAP_SYS_ADMIN by default");
      const adj = await f.runToExit(sb, {
        command: status,
        linux: {
          security_context: sc({
            capabilities: {
              add_capabilities: ["NET_ADMIN"],
              drop_capabilities: ["CHOWN"],
              add_ambient_capabilities: [],
            },
          }),
        },
      });
      const a = capEff(adj.stdout);
      assert(hasBit(a, 12) && !hasBit(a, 0));
      const none = await f.runToExit(sb, {
        command: [
          "sh",
          "-c",
          "[ -e /dev/mytun ] || [ -e /dev/fuse ] && echo present || echo absent",
        ],
      });
      assertEquals(none.stdout, "absent\n");
    } finally {
      await f.dispose();
    }
  },
);
