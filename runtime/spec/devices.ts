/**
 * Device nodes of the container and the device cgroup rules that go with them: CRI
 * devices (host paths), every host device for privileged containers; CDI is refused.
 */
import { InvalidArgumentError } from "../../core/errors.ts";
import type { OciDevice, OciDeviceRule, SpecOption } from "./types.ts";

export const refuseCdiDevices: SpecOption = (_spec, { config }) => {
  if (!config.CDI_devices?.length) return;
  throw new InvalidArgumentError(
    `CDI devices (${
      config.CDI_devices.map((d) => d.name).join(", ")
    }) are not supported by this Skiff; ` +
      `use CRI devices (host paths) instead`,
  );
};

/** Deny all but the CRI devices; privileged containers get every host device, allowed. */
export const withDevices: SpecOption = (spec, ctx) => {
  const devices: OciDevice[] = [];
  const rules: OciDeviceRule[] = [];
  if (ctx.privileged) {
    devices.push(...ctx.host.hostDevices());
    rules.push({ allow: true, access: "rwm" });
  } else rules.push({ allow: false, access: "rwm" });
  for (const d of ctx.config.devices ?? []) {
    const dev = ctx.host.device(d.host_path);
    if (!dev) {
      throw new InvalidArgumentError(`device ${d.host_path} is not a device node on this node`);
    }
    const perms = d.permissions || "rwm";
    if (!/^[rwm]+$/.test(perms)) {
      throw new InvalidArgumentError(`device permissions "${perms}" must be made of r, w and m`);
    }
    devices.push({ ...dev, path: d.container_path || d.host_path });
    if (!ctx.privileged) {
      rules.push({
        allow: true,
        type: dev.type,
        major: dev.major,
        minor: dev.minor,
        access: perms,
      });
    }
  }
  spec.linux.devices = devices;
  spec.linux.resources.devices = rules;
};
