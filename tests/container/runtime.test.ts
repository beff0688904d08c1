/**
 * The container runtime layer for real: ContainerService driving conmon and runc on an
 * overlay of a busybox layer, in pods with really pinned namespaces.
 */
import { assert, assertEquals, assertMatch, assertRejects } from "./assert.ts";
import { containerConfig, kv, RuntimeFixture, runtimePrerequisitesMissing } from "./fixture.ts";
import { AlreadyExistsError, InvalidArgumentError, NotFoundError } from "../../core/errors.ts";
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

      // a terminal from conmon; no_new_privs
      const tty = await f.runToExit(sb, {
        command: ["sh", "-c", "tty; grep NoNewPrivs /proc/self/status"],
        tty: true,
        linux: { security_context: sc({ no_new_privs: true }) },
      });
      assertMatch(tty.stdout, /^\/dev\/pts\/\d+\r?\nNoNewPrivs:\s+1\r?\n$/);

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
      // A privileged pod: the one privileged container below needs it.
      const sb = await f.pod({ privileged: true });
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
        command: status,
        linux: {
          security_context: sc({
            capabilities: {
              add_capabilities: [],
              drop_capabilities: ["ALL"],
              add_ambient_capabilities: [],
            },
          }),
        },
      });
      assertEquals(capEff(none.stdout), 0n);

      // privileged: every capability and the host's devices
      const hostDev = [...Deno.readDirSync("/dev")].find((e) =>
        !e.isDirectory && !e.isSymlink && ["kmsg", "loop0", "vda", "mem"].includes(e.name)
      )?.name ?? "kmsg";
      const priv = await f.runToExit(sb, {
        command: [
          "sh",
          "-c",
          `grep CapEff /proc/self/status; ls /dev/${hostDev}; touch /sys/fs/cgroup/x 2>&1 | head -c 0; echo ok`,
        ],
        linux: { security_context: sc({ privileged: true }) },
      });
      assert(hasBit(capEff(priv.stdout), 21), "privileged has CAP_SYS_ADMIN");
      assert(priv.stdout.includes(`/dev/${hostDev}`), priv.stdout);
      const unpriv = await f.runToExit(sb, { command: ["ls", `/dev/${hostDev}`] });
      assert(unpriv.rec.exitCode !== 0, "an ordinary container does not see host devices");

      // read-only rootfs
      const ro = await f.runToExit(sb, {
        command: ["sh", "-c", "touch /x && echo wrote || echo refused"],
        linux: { security_context: sc({ readonly_rootfs: true }) },
      });
      assertEquals(ro.stdout, "refused\n");
      const rw = await f.runToExit(sb, { command: ["sh", "-c", "touch /x && echo wrote"] });
      assertEquals(rw.stdout, "wrote\n");

      // masked and read-only /proc paths (defaults, and the CRI's own lists)
      const masked = await f.runToExit(sb, {
        command: [
          "sh",
          "-c",
          "wc -c < /proc/timer_list; echo 1 > /proc/sys/kernel/domainname && echo writable || echo ro",
        ],
      });
      assertEquals(masked.stdout, "0\nro\n");
      const custom = await f.runToExit(sb, {
        command: ["sh", "-c", "cat /proc/version | wc -c"],
        linux: { security_context: sc({ masked_paths: ["/proc/version"] }) },
      });
      assertEquals(custom.stdout, "0\n");

      // seccomp: the default profile refuses unshare(CLONE_NEWUSER), which needs no capability
      const userns = ["sh", "-c", "unshare -U true && echo allowed || echo blocked"];
      const blocked = await f.runToExit(sb, {
        command: userns,
        linux: {
          security_context: sc({ seccomp: { profile_type: "RuntimeDefault", localhost_ref: "" } }),
        },
      });
      assertEquals(blocked.stdout.trim().split("\n").at(-1), "blocked");
      const unconfined = await f.runToExit(sb, {
        command: userns,
        linux: {
          security_context: sc({ seccomp: { profile_type: "Unconfined", localhost_ref: "" } }),
        },
      });
      assertEquals(unconfined.stdout.trim(), "allowed");
      const mode = await f.runToExit(sb, {
        command: status,
        linux: {
          security_context: sc({ seccomp: { profile_type: "RuntimeDefault", localhost_ref: "" } }),
        },
      });
      assertMatch(mode.stdout, /Seccomp:\s+2/);
      // Localhost profile from a file on the node: refuse mkdir with EPERM
      const prof = `${f.dir}/no-mkdir.json`;
      await Deno.writeTextFile(
        prof,
        JSON.stringify({
          defaultAction: "SCMP_ACT_ALLOW",
          syscalls: [{ names: ["mkdir", "mkdirat"], action: "SCMP_ACT_ERRNO", errnoRet: 1 }],
        }),
      );
      const local = await f.runToExit(sb, {
        command: ["sh", "-c", "mkdir /tmp/d && echo made || echo refused"],
        linux: {
          security_context: sc({ seccomp: { profile_type: "Localhost", localhost_ref: prof } }),
        },
      });
      assertEquals(local.stdout, "refused\n");
    } finally {
      await f.dispose();
    }
  },
);

Deno.test(
  "containers: mounts (rw/ro, created host dirs, HostToContainer propagation), localhost between containers",
  opts,
  async () => {
    const f = await RuntimeFixture.create();
    const shared = `${f.dir}/shared`;
    let sharedMounted = false;
    try {
      const sb = await f.pod();
      const missing = `${f.dir}/made-by-skiff/data`;
      const ro = `${f.dir}/ro`;
      await Deno.mkdir(ro);
      await Deno.writeTextFile(`${ro}/file`, "hello-ro");
      const mount = (
        host_path: string,
        container_path: string,
        readonly = false,
        propagation: "PROPAGATION_PRIVATE" | "PROPAGATION_HOST_TO_CONTAINER" =
          "PROPAGATION_PRIVATE",
      ) => ({
        host_path,
        container_path,
        readonly,
        propagation,
        selinux_relabel: false,
        uidMappings: [],
        gidMappings: [],
        recursive_read_only: false,
        image_sub_path: "",
      });
      const m = await f.runToExit(sb, {
        command: [
          "sh",
          "-c",
          "echo x > /data/f && cat /ro/file && echo && (touch /ro/y 2>/dev/null && echo rw || echo ro)",
        ],
        mounts: [mount(missing, "/data"), mount(ro, "/ro", true)],
      });
      assertEquals(m.stdout, "hello-ro\nro\n");
      assertEquals(await Deno.readTextFile(`${missing}/f`), "x\n");

      // HostToContainer: a mount made on the host after start appears in the container
      await Deno.mkdir(shared);
      const sh = async (...args: string[]) => {
        const o = await new Deno.Command("mount", { args, stderr: "piped" }).output();
        assert(o.success, new TextDecoder().decode(o.stderr));
      };
      await sh("--bind", shared, shared);
      sharedMounted = true;
      await sh("--make-shared", shared);
      const id = await f.run(sb, {
        command: [
          "sh",
          "-c",
          "for i in $(seq 100); do [ -e /shared/sub/marker ] && { echo seen; exit 0; }; sleep 0.05; done; echo unseen",
        ],
        mounts: [mount(shared, "/shared", false, "PROPAGATION_HOST_TO_CONTAINER")],
      });
      await Deno.mkdir(`${shared}/sub`);
      await sh("-t", "tmpfs", "tmpfs", `${shared}/sub`);
      await Deno.writeTextFile(`${shared}/sub/marker`, "");
      await f.waitExited(id);
      assertEquals(await f.stdoutOf(id), "seen\n");
      await new Deno.Command("umount", { args: [`${shared}/sub`] }).output();

      // two containers of one pod talk over localhost
      const server = await f.run(sb, { command: ["sh", "-c", "echo pong | nc -l -p 7777"] });
      let reply = "";
      for (let i = 0; i < 50 && !reply.includes("pong"); i++) {
        const client = await f.runToExit(sb, {
          command: ["sh", "-c", "nc 127.0.0.1 7777 </dev/null"],
        });
        reply = client.stdout;
        if (!reply.includes("pong")) await new Promise((r) => setTimeout(r, 50));
      }
      assertEquals(reply, "pong\n");
      await f.service.stop(server, 0);
    } finally {
      if (sharedMounted) await new Deno.Command("umount", { args: ["-R", shared] }).output();
      await f.dispose();
    }
  },
);

Deno.test(
  "containers: stop grace then SIGKILL, stop signal, OOMKilled, start failure, idempotency",
  opts,
  async () => {
    const f = await RuntimeFixture.create();
    try {
      const sb = await f.pod();
      // PID 1 ignores SIGTERM unless it handles it: SIGKILL after the grace period
      const stubborn = await f.run(sb, {
        command: ["sh", "-c", "trap '' TERM; while true; do sleep 0.05; done"],
      });
      assertEquals(f.service.get(stubborn).state, "CONTAINER_RUNNING");
      let t0 = Date.now();
      await f.service.stop(stubborn, 1);
      const took = Date.now() - t0;
      assert(took >= 1000, `stop returned after ${took} ms, before the grace period`);
      const s = f.service.get(stubborn);
      assertEquals([s.state, s.exitCode, s.reason], ["CONTAINER_EXITED", 137, "Error"]);
      await f.service.stop(stubborn, 1); // idempotent

      // a container handling its stop signal exits with its own code, quickly
      const polite = await f.run(sb, {
        command: ["sh", "-c", "trap 'exit 0' USR1; while true; do sleep 0.05; done"],
        stop_signal: "SIGUSR1",
      });
      t0 = Date.now();
      await f.service.stop(polite, 10);
      assert(Date.now() - t0 < 5000);
      assertEquals([f.service.get(polite).exitCode, f.service.get(polite).reason], [
        0,
        "Completed",
      ]);

      // OOM kill with a tiny memory limit
      const cfg = containerConfig({ command: ["sh", "-c", "x=a; while true; do x=$x$x; done"] });
      cfg.linux = {
        resources: {
          cpu_period: "0",
          cpu_quota: "0",
          cpu_shares: "0",
          memory_limit_in_bytes: String(8 << 20),
          oom_score_adj: "-999",
          cpuset_cpus: "",
          cpuset_mems: "",
          hugepage_limits: [],
          unified: {},
          memory_swap_limit_in_bytes: String(8 << 20),
        },
      };
      const oomId = await f.service.create(sb.id, cfg);
      await f.service.start(oomId);
      const oom = await f.waitExited(oomId, 20000);
      assertEquals([oom.exitCode, oom.reason], [137, "OOMKilled"]);

      // start failure: the container ends EXITED with a reason and a message saying why
      const bad = await f.service.create(sb.id, containerConfig({ command: ["/no/such/binary"] }));
      const err = await assertRejects(() => f.service.start(bad));
      assertMatch(err.message, /no\/such\/binary/);
      const b = f.service.get(bad);
      assertEquals([b.state, b.reason, b.exitCode], ["CONTAINER_EXITED", "StartError", 128]);
      assertMatch(b.message, /no\/such\/binary/);

      // a file that is not executable: permission denied, said so
      const noexec = await f.service.create(sb.id, containerConfig({ command: ["/etc/passwd"] }));
      const permErr = await assertRejects(() => f.service.start(noexec));
      assertMatch(permErr.message, /permission denied/);
      assertMatch(
        f.service.get(noexec).message,
        /\/etc\/passwd.*permission denied|permission denied/,
      );

      // the log stays inside the pod's log directory
      await assertRejects(
        () =>
          f.service.create(
            sb.id,
            containerConfig({ command: ["true"], log_path: "../../escape.log" }),
          ),
        InvalidArgumentError,
        "log_path",
      );

      // name+attempt unique per pod; removal is idempotent and frees the name
      const named = containerConfig({ command: ["true"], metadata: { name: "dup", attempt: 1 } });
      const first = await f.service.create(sb.id, named);
      await assertRejects(() => f.service.create(sb.id, named), AlreadyExistsError);
      await f.service.remove(first);
      await f.service.remove(first);
      const again = await f.service.create(sb.id, named);
      assert(again !== first);
      // events were published in order for one container
      const evs = f.events.filter((e) => e.containerId === stubborn).map((e) => e.type);
      assertEquals(evs, [
        "CONTAINER_CREATED_EVENT",
        "CONTAINER_STARTED_EVENT",
        "CONTAINER_STOPPED_EVENT",
      ]);
    } finally {
      await f.dispose();
    }
  },
);

Deno.test(
  "containers: PID namespace of a target container, devices with permissions",
  opts,
  async () => {
    const f = await RuntimeFixture.create();
    try {
      const sb = await f.pod();
      const target = await f.run(sb, { command: ["sh", "-c", "exec sleep 1000"] });
      const nsOpts = (pid: "TARGET" | "CONTAINER") => ({
        security_context: sc({
          namespace_options: { network: "POD", pid, ipc: "POD", target_id: target },
        }),
      });
      const shared = await f.runToExit(sb, {
        command: ["sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '"],
        linux: nsOpts("TARGET"),
      });
      assertEquals(shared.stdout.trim(), "sleep 1000");
      const own = await f.runToExit(sb, {
        command: ["sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '"],
        linux: nsOpts("CONTAINER"),
      });
      assertEquals(own.stdout.trim(), "sh -c cat /proc/1/cmdline | tr '\\0' ' '");
      await f.service.stop(target, 0);

      // a host device under another name, readable but not writable per the device cgroup
      // (/dev/fuse: not among the devices runc always allows; opening it does nothing)
      const dev = await f.runToExit(sb, {
        command: [
          "sh",
          "-c",
          "(: < /dev/mytun) 2>/dev/null && echo readable || echo unreadable; " +
          "(: > /dev/mytun) 2>/dev/null && echo writable || echo denied",
        ],
        devices: [{ host_path: "/dev/fuse", container_path: "/dev/mytun", permissions: "r" }],
      });
      assertEquals(dev.stdout, "readable\ndenied\n");
      const absent = await f.runToExit(sb, {
        command: [
          "sh",
          "-c",
          "[ -e /dev/mytun ] || [ -e /dev/fuse ] && echo present || echo absent",
        ],
      });
      assertEquals(absent.stdout, "absent\n");
    } finally {
      await f.dispose();
    }
  },
);

Deno.test("containers: image volumes, whole and by sub-path, read-only", opts, async () => {
  const f = await RuntimeFixture.create();
  try {
    const layer = `${f.dir}/vol-layer`;
    await Deno.mkdir(`${layer}/data`, { recursive: true });
    await Deno.writeTextFile(`${layer}/data/hello`, "from-image-volume\n");
    const vol = f.addImage("vol", {});
    vol.layerDirs = [layer];
    const sb = await f.pod();
    const mount = (container_path: string, image_sub_path: string) => ({
      container_path,
      host_path: "",
      readonly: true,
      selinux_relabel: false,
      propagation: "PROPAGATION_PRIVATE" as const,
      uidMappings: [],
      gidMappings: [],
      recursive_read_only: false,
      image: {
        image: "vol",
        annotations: {},
        user_specified_image: "",
        runtime_handler: "",
        image_ref: "",
      },
      image_sub_path,
    });
    const r = await f.runToExit(sb, {
      command: [
        "sh",
        "-c",
        "cat /v/data/hello /sub/hello; touch /v/x 2>/dev/null && echo rw || echo ro",
      ],
      mounts: [mount("/v", ""), mount("/sub", "data")],
    });
    assertEquals(r.stdout, "from-image-volume\nfrom-image-volume\nro\n");
    assertEquals(f.service.containersUsingImage(vol.id), [r.id]);
    await assertRejects(
      () =>
        f.service.create(
          sb.id,
          containerConfig({ command: ["true"], mounts: [mount("/v", "nope")] }),
        ),
      NotFoundError,
      "nope",
    );
    await f.service.remove(r.id);
    await f.cleanupsDrained();
    // neither the removed container nor the failed create left a mount behind
    assert(!Deno.readTextFileSync("/proc/self/mountinfo").includes(`${f.dir}/state/containers/`));
  } finally {
    await f.dispose();
  }
});

Deno.test(
  "containers: CPU, cpuset, memory and oom_score_adj reach the container's cgroup and process",
  opts,
  async () => {
    const f = await RuntimeFixture.create();
    try {
      const sb = await f.pod();
      const cfg = containerConfig({
        command: ["sh", "-c", "cat /proc/self/oom_score_adj; exec sleep 100"],
      });
      cfg.linux = {
        resources: {
          cpu_period: "100000",
          cpu_quota: "50000",
          cpu_shares: "256",
          memory_limit_in_bytes: String(64 << 20),
          oom_score_adj: "-500", // lowering is refused here without CAP_SYS_RESOURCE: clamped
          cpuset_cpus: "0",
          cpuset_mems: "0",
          // as kubelet sends them: one per huge page size of the node, limit 0
          hugepage_limits: [{ page_size: "2MB", limit: "0" }],
          unified: {},
          memory_swap_limit_in_bytes: String(64 << 20),
        },
      };
      const id = await f.service.create(sb.id, cfg);
      await f.service.start(id);
      const cg = (ctl: string, file: string) =>
        Deno.readTextFileSync(`/sys/fs/cgroup/${ctl}${sb.cgroupParent}/skiff-${id}/${file}`).trim();
      assertEquals(cg("cpu", "cpu.cfs_quota_us"), "50000");
      assertEquals(cg("cpu", "cpu.cfs_period_us"), "100000");
      assertEquals(cg("cpu", "cpu.shares"), "256");
      assertEquals(cg("memory", "memory.limit_in_bytes"), String(64 << 20));
      assertEquals(cg("cpuset", "cpuset.cpus"), "0");
      // conmon runs in a cgroup of its own under the pod's, not in Skiff's
      const conmonCgroups = Deno.readTextFileSync(`/proc/${f.service.get(id).conmonPid}/cgroup`);
      assertMatch(conmonCgroups, new RegExp(`:memory:${sb.cgroupParent}/skiff-conmon-${id}$`, "m"));
      const own = Number(Deno.readTextFileSync("/proc/self/oom_score_adj").trim());
      const status = Deno.readTextFileSync("/proc/self/status");
      const capEff = BigInt(`0x${/^CapEff:\s*([0-9a-f]+)$/m.exec(status)![1]}`);
      const canLower = ((capEff >> 24n) & 1n) === 1n; // CAP_SYS_RESOURCE
      let out = "";
      for (let i = 0; i < 50 && !out; i++) {
        out = await f.stdoutOf(id);
        if (!out) await new Promise((r) => setTimeout(r, 20));
      }
      assertEquals(out.trim(), String(canLower ? -500 : Math.max(-500, own)));
      await f.service.stop(id, 0);
    } finally {
      await f.dispose();
    }
  },
);

Deno.test(
  "containers: configs shaped as kubelet sends them (QoS classes, termination log, hosts, token dir) start",
  opts,
  async () => {
    const f = await RuntimeFixture.create();
    try {
      const sb = await f.pod();
      const podDir = `${f.dir}/kubelet-pod`;
      await Deno.mkdir(`${podDir}/token`, { recursive: true });
      await Deno.writeTextFile(`${podDir}/token/token`, "secret-token");
      await Deno.writeTextFile(`${podDir}/termination-log`, "");
      await Deno.writeTextFile(
        `${podDir}/etc-hosts`,
        "127.0.0.1 localhost\n10.1.2.3 from-kubelet\n",
      );
      const mount = (host_path: string, container_path: string, readonly: boolean) => ({
        host_path,
        container_path,
        readonly,
        selinux_relabel: false,
        propagation: "PROPAGATION_PRIVATE" as const,
        uidMappings: [],
        gidMappings: [],
        recursive_read_only: false,
        image_sub_path: "",
      });
      const resources = (shares: string, quota: string, memory: string, oom: string) => ({
        cpu_period: "100000",
        cpu_quota: quota,
        cpu_shares: shares,
        memory_limit_in_bytes: memory,
        oom_score_adj: oom,
        cpuset_cpus: "",
        cpuset_mems: "",
        hugepage_limits: [{ page_size: "2MB", limit: "0" }, { page_size: "1GB", limit: "0" }],
        unified: {},
        memory_swap_limit_in_bytes: memory,
      });
      const qos = {
        besteffort: resources("2", "0", "0", "1000"),
        burstable: resources("102", "0", "0", "968"),
        guaranteed: resources("512", "50000", String(128 << 20), "-997"),
      };
      for (const [name, r] of Object.entries(qos)) {
        const res = await f.runToExit(sb, {
          metadata: { name, attempt: 0 },
          command: [
            "sh",
            "-c",
            "cat /var/run/secrets/token; grep from-kubelet /etc/hosts; echo done > /dev/termination-log",
          ],
          mounts: [
            mount(`${podDir}/token`, "/var/run/secrets", true),
            mount(`${podDir}/termination-log`, "/dev/termination-log", false),
            mount(`${podDir}/etc-hosts`, "/etc/hosts", false),
          ],
          linux: {
            resources: r,
            security_context: sc({
              masked_paths: [
                "/proc/acpi",
                "/proc/kcore",
                "/proc/keys",
                "/proc/timer_list",
                "/sys/firmware",
              ],
              readonly_paths: [
                "/proc/bus",
                "/proc/fs",
                "/proc/irq",
                "/proc/sys",
                "/proc/sysrq-trigger",
              ],
            }),
          },
          log_path: `${name}/0.log`,
        });
        assertEquals([res.rec.reason, res.stdout], [
          "Completed",
          "secret-token10.1.2.3 from-kubelet\n",
        ], name);
        assertEquals(await Deno.readTextFile(`${podDir}/termination-log`), "done\n");
      }
    } finally {
      await f.dispose();
    }
  },
);
