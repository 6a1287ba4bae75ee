// PURE: VmSpec + driver options -> libvirt domain XML. Every document is built as an object and
// serialised by fast-xml-parser's XMLBuilder (escaping is its job, never string concatenation).
import { XMLBuilder } from "fast-xml-parser";
import { InvalidArgumentError, UnsupportedError } from "#shared/errors.js";
import { domainNameWithVmName } from "#shared/domain-name.js";
import type { GpuAssignment, VmSpec } from "#shared/protocol.js";
import { orbitMetadataElement } from "./orbit-metadata.js";
import { vmTapName } from "../../network/tap-name.js";

export type DomainType = "kvm" | "qemu";
export type CdromBus = "scsi" | "sata" | "ide";
export type CpuConfig = { mode: "host-passthrough" } | { mode: "host-model" } | { mode: "custom"; model: string };

export interface FirmwareOptions {
  /** OVMF code image (read-only pflash). */
  loader: string;
  /** Template the per-VM NVRAM (UEFI variables) is copied from by libvirt. */
  nvramTemplate: string;
  secureBoot: boolean;
}

export interface DomainXmlOptions {
  /** "kvm" in production; "qemu" (TCG) where the CPU has no vmx/svm. */
  domainType: DomainType;
  /** Default: host-passthrough on KVM, custom qemu64 under TCG. */
  cpu?: CpuConfig;
  /** Default "q35". */
  machine?: string;
  /** Default "x86_64". */
  arch?: string;
  /** Emulator binary; libvirt picks one for the arch when absent. */
  emulator?: string;
  /** Bus of cdroms (ISOs and the cloud-init seed). Default "scsi" (virtio-scsi): q35's SATA needs AHCI in the guest. */
  cdromBus?: CdromBus;
  /** UEFI firmware for guests without direct kernel boot. */
  firmware?: FirmwareOptions;
  /** PCIe root ports left empty for hot-plugging disks/NICs on q35. Default 4. */
  spareRootPorts?: number;
  /**
   * 64-bit PCI MMIO window (GiB) for VMs with GPUs: large-BAR GPUs (A100/H100 class) need more
   * than QEMU's default. Unset: QEMU's default.
   */
  pciHole64Gib?: number;
  /** Memory balloon stats period in seconds (0 disables periodic stats). Default 5. */
  balloonStatsPeriodSec?: number;
}

/** Per-VM files the driver has decided on (instance dir layout is the driver's business). */
export interface DomainPaths {
  /** Where the serial console is logged. */
  serialLog: string;
  /**
   * A unix socket QEMU listens on for the serial console (the agent connects to it for an
   * interactive session); without it the serial is a pty.
   */
  consoleSocket?: string;
  /** Per-VM UEFI variables file (UEFI guests only). */
  nvram?: string;
  /** The cloud-init NoCloud seed ISO, attached as a cdrom when present. */
  seedIso?: string;
  instanceDir?: string;
  /** Files removed with the VM (recorded in the domain's Orbit metadata). */
  ownedFiles?: string[];
}

export const DEFAULT_OVMF: FirmwareOptions = {
  loader: "/usr/share/OVMF/OVMF_CODE_4M.fd",
  nvramTemplate: "/usr/share/OVMF/OVMF_VARS_4M.fd",
  secureBoot: false,
};

/**
 * The libvirt domain name for a VM: the one the manager chose (VmSpec.domain_name, setting
 * vm.instancename.flag), else (a manager that predates it) `orbit-<first 8 hex of the uuid>-<name>`.
 */
export function domainNameFor(spec: Pick<VmSpec, "vmUuid" | "name"> & Partial<Pick<VmSpec, "domainName">>): string {
  if (!spec.domainName) return domainNameWithVmName(spec);
  // It becomes a virsh argument (domrename) as well as XML: nothing that could read as an option.
  if (!DOMAIN_NAME_RE.test(spec.domainName)) {
    throw new InvalidArgumentError("spec.domainName", `not a domain name (letters, digits, "_", "." and "-", 1 to 64, not starting with "-" or "."): ${JSON.stringify(spec.domainName)}`);
  }
  return spec.domainName;
}

const DOMAIN_NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const PCI_RE = /^(?:([0-9a-f]{4}):)?([0-9a-f]{2}):([0-9a-f]{2})\.([0-7])$/i;
const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;

/** Parses "0000:81:00.0" (or "81:00.0") into libvirt's hex address attributes. */
export function parsePciAddress(address: string): { domain: string; bus: string; slot: string; function: string } {
  const m = PCI_RE.exec(address.trim());
  if (!m) throw new InvalidArgumentError("gpus.pciAddress", `not a PCI address: ${JSON.stringify(address)}`);
  return {
    domain: `0x${(m[1] ?? "0000").toLowerCase()}`,
    bus: `0x${m[2]!.toLowerCase()}`,
    slot: `0x${m[3]!.toLowerCase()}`,
    function: `0x${m[4]}`,
  };
}

/** Target device name per bus family: virtio → vd*, scsi/sata/usb → sd*, ide → hd*. */
function targetPrefix(bus: string): string {
  if (bus === "virtio") return "vd";
  if (bus === "ide") return "hd";
  return "sd";
}

/** Disk letters after z: aa, ab... as libvirt and Linux name them. */
export function diskLetters(index: number): string {
  let n = index;
  let s = "";
  do {
    s = String.fromCharCode(97 + (n % 26)) + s;
    n = Math.floor(n / 26) - 1;
  } while (n >= 0);
  return s;
}

export interface TopologyResult {
  sockets: number;
  cores: number;
  threads: number;
}

function resolveTopology(spec: VmSpec, maxVcpus: number): TopologyResult {
  const t = spec.topology;
  if (!t || (t.sockets === 0 && t.cores === 0 && t.threads === 0)) return { sockets: 1, cores: maxVcpus, threads: 1 };
  const sockets = t.sockets || 1;
  const cores = t.cores || 1;
  const threads = t.threads || 1;
  if (sockets * cores * threads !== maxVcpus) {
    throw new InvalidArgumentError(
      "topology",
      `topology ${sockets}x${cores}x${threads} does not match the maximum vCPU count ${maxVcpus}`,
    );
  }
  return { sockets, cores, threads };
}

function cpuElement(opts: DomainXmlOptions, topology: TopologyResult): Record<string, unknown> {
  const cpu = opts.cpu ?? (opts.domainType === "kvm" ? { mode: "host-passthrough" } : { mode: "custom", model: "qemu64" });
  const topo = { "@_sockets": topology.sockets, "@_dies": 1, "@_cores": topology.cores, "@_threads": topology.threads };
  if (cpu.mode === "custom") {
    return { "@_mode": "custom", "@_match": "exact", "@_check": "none", model: { "@_fallback": "allow", "#text": cpu.model }, topology: topo };
  }
  if (cpu.mode === "host-passthrough") {
    if (opts.domainType !== "kvm") throw new InvalidArgumentError("cpu", "host-passthrough needs domain type kvm");
    return { "@_mode": "host-passthrough", "@_check": "none", "@_migratable": "on", topology: topo };
  }
  return { "@_mode": "host-model", "@_check": "partial", topology: topo };
}

function osElement(spec: VmSpec, opts: DomainXmlOptions, paths: DomainPaths): Record<string, unknown> {
  const type = { "@_arch": opts.arch ?? "x86_64", "@_machine": opts.machine ?? "q35", "#text": "hvm" };
  const boot = spec.directBoot;
  if (boot && boot.kernel) {
    return {
      type,
      kernel: boot.kernel,
      ...(boot.initrd ? { initrd: boot.initrd } : {}),
      ...(boot.cmdline ? { cmdline: boot.cmdline } : {}),
    };
  }
  const fw = opts.firmware ?? DEFAULT_OVMF;
  if (!paths.nvram) throw new InvalidArgumentError("firmware", "UEFI guests need a per-VM NVRAM path");
  return {
    type,
    loader: { "@_readonly": "yes", "@_secure": fw.secureBoot ? "yes" : "no", "@_type": "pflash", "#text": fw.loader },
    nvram: { "@_template": fw.nvramTemplate, "#text": paths.nvram },
  };
}

function cputuneElement(spec: VmSpec, maxVcpus: number): Record<string, unknown> | undefined {
  const pins = spec.pinnedCpus;
  if (pins.length === 0) return undefined;
  const all = pins.join(",");
  // One host CPU per vCPU when there are enough; otherwise every vCPU floats over the whole set.
  const vcpupin = Array.from({ length: maxVcpus }, (_, i) => ({
    "@_vcpu": i,
    "@_cpuset": pins.length >= maxVcpus ? String(pins[i]) : all,
  }));
  return { vcpupin, emulatorpin: { "@_cpuset": all } };
}

interface DiskElement {
  element: Record<string, unknown>;
  bus: string;
}

function diskElements(spec: VmSpec, opts: DomainXmlOptions, paths: DomainPaths): DiskElement[] {
  const cdromBus = opts.cdromBus ?? "scsi";
  const counters = new Map<string, number>();
  const nextTarget = (bus: string): string => {
    const prefix = targetPrefix(bus);
    const n = counters.get(prefix) ?? 0;
    counters.set(prefix, n + 1);
    return `${prefix}${diskLetters(n)}`;
  };
  const direct = Boolean(spec.directBoot?.kernel);
  let bootOrder = 1;
  const out: DiskElement[] = [];
  spec.disks.forEach((d, i) => {
    if (!d.sourcePath) throw new InvalidArgumentError(`disks[${i}].sourcePath`, `disk ${d.id || i} has no source path`);
  });
  // The ISO slot is the spec's cdrom, or an empty tray after the disks: media can be changed on a
  // running domain only in a cdrom it already has.
  const isoIndex = spec.disks.findIndex((d) => d.device === "cdrom");
  const slotted = isoIndex >= 0 ? spec.disks : [...spec.disks, undefined];
  for (const d of slotted) {
    if (!d) {
      out.push({ bus: cdromBus, element: isoSlotElement(nextTarget(cdromBus), cdromBus, direct ? undefined : bootOrder++) });
      continue;
    }
    const device = d.device === "cdrom" ? "cdrom" : "disk";
    const bus = device === "cdrom" ? (d.bus && d.bus !== "virtio" ? d.bus : cdromBus) : d.bus || "virtio";
    const format = d.format || (device === "cdrom" ? "raw" : "qcow2");
    const el: Record<string, unknown> = {
      "@_type": d.sourcePath.startsWith("/dev/") ? "block" : "file",
      "@_device": device,
      driver: { "@_name": "qemu", "@_type": format, ...(device === "disk" ? { "@_discard": "unmap" } : {}) },
      source: d.sourcePath.startsWith("/dev/") ? { "@_dev": d.sourcePath } : { "@_file": d.sourcePath },
      target: { "@_dev": nextTarget(bus), "@_bus": bus },
      ...(device === "cdrom" ? { readonly: "" } : {}),
      ...(d === spec.disks[isoIndex] ? { alias: { "@_name": ISO_SLOT_ALIAS } } : {}),
      ...(d.id && device === "disk" ? { serial: d.id.replace(/[^A-Za-z0-9_.-]/g, "").slice(0, 20) } : {}),
      ...(direct ? {} : { boot: { "@_order": bootOrder++ } }),
    };
    out.push({ element: el, bus });
  }
  if (paths.seedIso) {
    out.push({
      bus: cdromBus,
      element: {
        "@_type": "file",
        "@_device": "cdrom",
        driver: { "@_name": "qemu", "@_type": "raw" },
        source: { "@_file": paths.seedIso },
        target: { "@_dev": nextTarget(cdromBus), "@_bus": cdromBus },
        readonly: "",
      },
    });
  }
  return out;
}

/** libvirt's user alias of the ISO cdrom slot (the "ua-" prefix keeps it as given): how the agent finds it for a media change. */
export const ISO_SLOT_ALIAS = "ua-orbit-iso";

/** The ISO cdrom slot with no medium in it (an empty tray). */
function isoSlotElement(targetDev: string, bus: string, bootOrder: number | undefined): Record<string, unknown> {
  return {
    "@_type": "file",
    "@_device": "cdrom",
    driver: { "@_name": "qemu", "@_type": "raw" },
    target: { "@_dev": targetDev, "@_bus": bus },
    readonly: "",
    alias: { "@_name": ISO_SLOT_ALIAS },
    ...(bootOrder !== undefined ? { boot: { "@_order": bootOrder } } : {}),
  };
}

function hostdevElement(g: GpuAssignment, i: number): Record<string, unknown> {
  if (g.mode === "passthrough") {
    const a = parsePciAddress(g.pciAddress);
    return {
      "@_mode": "subsystem",
      "@_type": "pci",
      "@_managed": "yes",
      source: { address: { "@_domain": a.domain, "@_bus": a.bus, "@_slot": a.slot, "@_function": a.function } },
    };
  }
  if (g.mode === "vgpu" || g.mode === "share") {
    if (!UUID_RE.test(g.mdevUuid)) {
      throw new InvalidArgumentError(`gpus[${i}].mdevUuid`, `${g.mode} GPU ${g.pciAddress} needs the mdev UUID of its device`);
    }
    return {
      "@_mode": "subsystem",
      "@_type": "mdev",
      "@_model": "vfio-pci",
      "@_display": "off",
      source: { address: { "@_uuid": g.mdevUuid.toLowerCase() } },
    };
  }
  throw new UnsupportedError(`GPU mode ${JSON.stringify(g.mode)} is not supported by the libvirt driver`);
}

function validate(spec: VmSpec): void {
  if (!UUID_RE.test(spec.vmUuid)) throw new InvalidArgumentError("vmUuid", `not a UUID: ${JSON.stringify(spec.vmUuid)}`);
  if (spec.vcpus < 1) throw new InvalidArgumentError("vcpus", "a VM needs at least one vCPU");
  if (spec.maxVcpus !== 0 && spec.maxVcpus < spec.vcpus) throw new InvalidArgumentError("maxVcpus", "maxVcpus is below vcpus");
  if (spec.memoryMib < 1) throw new InvalidArgumentError("memoryMib", "a VM needs memory");
  if (spec.maxMemoryMib !== 0 && spec.maxMemoryMib < spec.memoryMib) {
    throw new InvalidArgumentError("maxMemoryMib", "maxMemoryMib is below memoryMib");
  }
  spec.nics.forEach((n, i) => {
    if (!n.bridge) throw new InvalidArgumentError(`nics[${i}].bridge`, "a NIC needs a bridge");
    // A Linux interface name (IFNAMSIZ): the driver creates the bridge with `ip link add`.
    if (!/^[A-Za-z0-9_.-]{1,15}$/.test(n.bridge)) {
      throw new InvalidArgumentError(`nics[${i}].bridge`, `bridge "${n.bridge}" is not a Linux interface name (at most 15 letters, digits, _ . -)`);
    }
    if (n.mac && !MAC_RE.test(n.mac)) throw new InvalidArgumentError(`nics[${i}].mac`, `not a MAC address: ${n.mac}`);
  });
}

const builder = new XMLBuilder({
  ignoreAttributes: false,
  attributeNamePrefix: "@_",
  format: true,
  suppressEmptyNode: true,
});

/** Builds the object tree; exported for tests that want to look at it without re-parsing. */
export function domainObject(spec: VmSpec, opts: DomainXmlOptions, paths: DomainPaths): Record<string, unknown> {
  validate(spec);
  const maxVcpus = spec.maxVcpus || spec.vcpus;
  const topology = resolveTopology(spec, maxVcpus);
  // Balloon model: <memory> is the ceiling the balloon may grow to, <currentMemory> the boot size.
  const maxMemory = Math.max(spec.maxMemoryMib, spec.memoryMib);
  const machine = opts.machine ?? "q35";
  const isQ35 = machine.includes("q35");
  const disks = diskElements(spec, opts, paths);
  const hasScsi = disks.some((d) => d.bus === "scsi");
  const uefi = !spec.directBoot?.kernel;
  const secureBoot = uefi && (opts.firmware ?? DEFAULT_OVMF).secureBoot;
  const cputune = cputuneElement(spec, maxVcpus);
  const spare = isQ35 ? (opts.spareRootPorts ?? 4) : 0;
  const statsPeriod = opts.balloonStatsPeriodSec ?? 5;

  // On q35 every PCIe device sits behind its own root port and libvirt fills the ports declared
  // here first: declare one per device it will place plus the spares hot-plug needs.
  const pcieDevices =
    disks.filter((d) => d.bus === "virtio").length + spec.nics.length + spec.gpus.length + (hasScsi ? 1 : 0) + 2; // + balloon, rng
  const controllers: Record<string, unknown>[] = [];
  const hole = spec.gpus.length > 0 && opts.pciHole64Gib ? { pcihole64: { "@_unit": "KiB", "#text": opts.pciHole64Gib * 1024 * 1024 } } : {};
  controllers.push({ "@_type": "pci", "@_index": 0, "@_model": isQ35 ? "pcie-root" : "pci-root", ...hole });
  if (isQ35) for (let i = 0; i < pcieDevices + spare; i++) controllers.push({ "@_type": "pci", "@_model": "pcie-root-port" });
  if (hasScsi) controllers.push(VIRTIO_SCSI_CONTROLLER);
  // No USB controller: servers do not need one and it would take a port.
  controllers.push({ "@_type": "usb", "@_model": "none" });

  const devices: Record<string, unknown> = {
    ...(opts.emulator ? { emulator: opts.emulator } : {}),
    disk: disks.map((d) => d.element),
    controller: controllers,
    interface: spec.nics.map((n, i) => ({
      "@_type": "bridge",
      ...(n.mac ? { mac: { "@_address": n.mac.toLowerCase() } } : {}),
      source: { "@_bridge": n.bridge },
      // The first NIC's tap is named by the agent, so its firewall can be applied before start.
      ...(i === 0 ? { target: { "@_dev": vmTapName(spec.vmUuid) } } : {}),
      model: { "@_type": n.model || "virtio" },
    })),
    ...serialDevices(paths),
    hostdev: spec.gpus.map(hostdevElement),
    memballoon: { "@_model": "virtio", ...(statsPeriod > 0 ? { stats: { "@_period": statsPeriod } } : {}) },
    rng: { "@_model": "virtio", backend: { "@_model": "random", "#text": "/dev/urandom" } },
  };

  const ownedFiles = paths.ownedFiles ?? [];
  return {
    domain: {
      "@_type": opts.domainType,
      name: domainNameFor(spec),
      uuid: spec.vmUuid.toLowerCase(),
      title: spec.name,
      metadata: orbitMetadataElement({
        vmUuid: spec.vmUuid.toLowerCase(),
        name: spec.name,
        labels: spec.labels,
        ownedFiles,
        instanceDir: paths.instanceDir ?? "",
      }),
      memory: { "@_unit": "MiB", "#text": maxMemory },
      currentMemory: { "@_unit": "MiB", "#text": spec.memoryMib },
      vcpu: { "@_placement": "static", "@_current": spec.vcpus, "#text": maxVcpus },
      ...(cputune ? { cputune } : {}),
      ...(spec.numaNode >= 0 ? { numatune: { memory: { "@_mode": "strict", "@_nodeset": spec.numaNode } } } : {}),
      os: osElement(spec, opts, paths),
      features: { acpi: "", apic: "", ...(secureBoot ? { smm: { "@_state": "on" } } : {}) },
      cpu: cpuElement(opts, topology),
      clock: { "@_offset": "utc" },
      on_poweroff: "destroy",
      on_reboot: "restart",
      on_crash: "destroy",
      devices,
    },
  };
}

/** The domain XML for `virsh define`. Throws InvalidArgumentError/UnsupportedError for specs it cannot express. */
export function buildDomainXml(spec: VmSpec, opts: DomainXmlOptions, paths: DomainPaths): string {
  return builder.build(domainObject(spec, opts, paths)) as string;
}

/** XML for `virsh attach-device` of one extra disk (live + config). */
/** The SCSI controller of Orbit's domains: virtio-scsi (what cloud kernels have a driver for). */
const VIRTIO_SCSI_CONTROLLER = { "@_type": "scsi", "@_index": 0, "@_model": "virtio-scsi" } as const;

/** PURE: the `<controller>` element `virsh attach-device` takes to add the virtio-scsi controller to a domain without one. */
export function buildScsiControllerXml(): string {
  return builder.build({ controller: VIRTIO_SCSI_CONTROLLER }) as string;
}

/**
 * The serial port (logged to a file across boots either way) and the console aliasing it: on a
 * unix socket QEMU binds when one is given, so the agent can attach without a pty tool.
 */
function serialDevices(paths: DomainPaths): Record<string, unknown> {
  const log = { "@_file": paths.serialLog, "@_append": "on" };
  if (!paths.consoleSocket) {
    return {
      serial: { "@_type": "pty", log, target: { "@_port": 0 } },
      console: { "@_type": "pty", target: { "@_type": "serial", "@_port": 0 } },
    };
  }
  const source = { "@_mode": "bind", "@_path": paths.consoleSocket };
  return {
    serial: { "@_type": "unix", source, log, target: { "@_port": 0 } },
    console: { "@_type": "unix", source, target: { "@_type": "serial", "@_port": 0 } },
  };
}

export function buildDiskDeviceXml(disk: { sourcePath: string; format: string; targetDev: string; bus: string; serial?: string }): string {
  return builder.build({
    disk: {
      "@_type": "file",
      "@_device": "disk",
      driver: { "@_name": "qemu", "@_type": disk.format || "qcow2" },
      source: { "@_file": disk.sourcePath },
      target: { "@_dev": disk.targetDev, "@_bus": disk.bus },
      ...(disk.serial ? { serial: disk.serial } : {}),
    },
  }) as string;
}
