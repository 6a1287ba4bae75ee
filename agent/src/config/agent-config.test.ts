import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { InvalidArgumentError } from "#shared/errors.js";
import { parse as parseYaml } from "yaml";
import { agentConfigSchema, DEFAULT_AGENT_CONFIG_PATH, loadAgentConfig, parseAgentConfig, REMOVED_AGENT_CONFIG_KEYS } from "./agent-config.js";

const EXAMPLE_PATH = fileURLToPath(new URL("../../../packaging/agent.yaml.example", import.meta.url));

function enoent(path: string): never {
  throw Object.assign(new Error(`ENOENT: no such file or directory, open '${path}'`), { code: "ENOENT" });
}

/** A readFile over an in-memory set of files that records what was asked. */
function fakeFs(files: Record<string, string>): { readFile: (p: string) => string; reads: string[] } {
  const reads: string[] = [];
  return {
    reads,
    readFile: (p) => {
      reads.push(p);
      const text = files[p];
      return text === undefined ? enoent(p) : text;
    },
  };
}

function errorOf(fn: () => unknown): InvalidArgumentError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(InvalidArgumentError);
    return e as InvalidArgumentError;
  }
  throw new Error("expected an InvalidArgumentError, nothing was thrown");
}

describe("parseAgentConfig defaults", () => {
  it("fills every default from a file with only the manager", () => {
    const c = parseAgentConfig({ manager: "mgr.example:50051" });
    expect(c).toEqual({
      manager: "mgr.example:50051",
      managers: ["mgr.example:50051"],
      token: undefined,
      stateDir: "/var/lib/orbit-agent",
      tls: { caFile: undefined, certFile: undefined, keyFile: undefined, serverName: undefined },
      driver: "libvirt",
      libvirt: {
        uri: "qemu:///system",
        domainType: "kvm",
        cpuMode: "host-passthrough",
        cpuModel: "qemu64",
        machine: "q35",
        cdromBus: "scsi",
        imagesDir: "/var/lib/orbit-agent/images",
        instancesDir: "/var/lib/orbit-agent/instances",
        ovmfCode: "/usr/share/OVMF/OVMF_CODE_4M.fd",
        ovmfVars: "/usr/share/OVMF/OVMF_VARS_4M.fd",
        secureBoot: false,
      },
      simulator: { cpus: 16, memoryMib: 65536, numaCells: 1, gpus: [], startDelayMs: 200 },
      gpu: { nvidiaSmi: "nvidia-smi", sysfsRoot: "/sys", enabled: true },
      host: { tags: [], environment: "default", cluster: "default", hostname: undefined, migrationUri: "", clusterAddress: "" },
      reconnect: { initialBackoffMs: 500, maxBackoffMs: 15000, logEveryMs: 60000 },
      stats: { intervalMs: 60000 },
      ha: { storageHeartbeatDir: undefined },
      metrics: { listen: undefined },
      logLevel: "info",
    });
  });

  it("takes an absolute storage heartbeat dir, and refuses a relative one naming the key", () => {
    expect(parseAgentConfig({ manager: "m:1", ha: { storage_heartbeat_dir: "/mnt/orbit-ha" } }).ha.storageHeartbeatDir).toBe("/mnt/orbit-ha");
    expect(() => parseAgentConfig({ manager: "m:1", ha: { storage_heartbeat_dir: "ha" } })).toThrow(/ha\.storage_heartbeat_dir.*absolute path/s);
    expect(() => parseAgentConfig({ manager: "m:1", ha: { heartbeat_dir: "/x" } })).toThrow(/heartbeat_dir/);
  });

  it("takes a stats interval of 0 (off) or at least a second", () => {
    expect(parseAgentConfig({ manager: "m:1", stats: { interval_ms: 0 } }).stats.intervalMs).toBe(0);
    expect(parseAgentConfig({ manager: "m:1", stats: { interval_ms: 5000 } }).stats.intervalMs).toBe(5000);
    expect(() => parseAgentConfig({ manager: "m:1", stats: { interval_ms: 10 } })).toThrow(/stats\.interval_ms.*at least 1000/s);
  });

  it("takes a metrics listen address, off by default, and refuses one that is not host:port", () => {
    expect(parseAgentConfig({ manager: "m:1", metrics: { listen: "127.0.0.1:9464" } }).metrics.listen).toEqual({ host: "127.0.0.1", port: 9464 });
    expect(parseAgentConfig({ manager: "m:1", metrics: { listen: "[::1]:0" } }).metrics.listen).toEqual({ host: "::1", port: 0 });
    expect(parseAgentConfig({ manager: "m:1", metrics: {} }).metrics.listen).toBeUndefined();
    for (const bad of ["9464", "host", "h:70000", ":9464", "h :1"]) {
      expect(() => parseAgentConfig({ manager: "m:1", metrics: { listen: bad } })).toThrow(/metrics\.listen.*host:port/s);
    }
    expect(() => parseAgentConfig({ manager: "m:1", metrics: { port: 1 } })).toThrow(/metrics/);
  });

  it("picks the CPU mode from the domain type unless it is set", () => {
    expect(parseAgentConfig({ manager: "m:1" }).libvirt.cpuMode).toBe("host-passthrough");
    expect(parseAgentConfig({ manager: "m:1", libvirt: { domain_type: "qemu" } }).libvirt.cpuMode).toBe("custom");
    expect(parseAgentConfig({ manager: "m:1", libvirt: { domain_type: "qemu", cpu_mode: "host-model" } }).libvirt.cpuMode).toBe("host-model");
  });

  it("puts images and instances under a moved state_dir unless they are set", () => {
    const moved = parseAgentConfig({ manager: "m:1", state_dir: "/srv/orbit" });
    expect(moved.libvirt.imagesDir).toBe("/srv/orbit/images");
    expect(moved.libvirt.instancesDir).toBe("/srv/orbit/instances");
    const set = parseAgentConfig({ manager: "m:1", state_dir: "/srv/orbit", libvirt: { images_dir: "/data/img" } });
    expect(set.libvirt.imagesDir).toBe("/data/img");
    expect(set.libvirt.instancesDir).toBe("/srv/orbit/instances");
  });

  it("maps snake_case keys to camelCase, simulator GPUs included", () => {
    const c = parseAgentConfig({
      manager: "[::1]:7000",
      driver: "simulator",
      simulator: { numa_cells: 2, gpus: [{ model: "A100", memory_mib: 40960, numa_node: 1 }] },
      libvirt: { domain_type: "qemu", cpu_mode: "custom", secure_boot: true },
    });
    expect(c.manager).toBe("[::1]:7000");
    expect(c.driver).toBe("simulator");
    expect(c.simulator.gpus).toEqual([{ model: "A100", memoryMib: 40960, count: 1, numaNode: 1 }]);
    expect(c.libvirt).toMatchObject({ domainType: "qemu", cpuMode: "custom", secureBoot: true });
  });

  it("takes the host's migration URI and cluster address (empty: not a migration destination)", () => {
    const c = parseAgentConfig({ manager: "m:1", host: { migration_uri: "qemu+tcp://10.0.1.11/system", cluster_address: "10.0.1.11" } });
    expect(c.host).toMatchObject({ migrationUri: "qemu+tcp://10.0.1.11/system", clusterAddress: "10.0.1.11" });
    expect(() => parseAgentConfig({ manager: "m:1", host: { cluster_address: "10.0.1.11 x" } })).toThrow(/host\.cluster_address/);
  });

  it("takes several managers: a comma list, a managers list, or both (manager's first, each once)", () => {
    expect(parseAgentConfig({ manager: "a:1, b:2" }).managers).toEqual(["a:1", "b:2"]);
    expect(parseAgentConfig({ managers: ["a:1", "b:2"] })).toMatchObject({ manager: "a:1", managers: ["a:1", "b:2"] });
    expect(parseAgentConfig({ manager: "c:3", managers: ["a:1", "c:3"] }).managers).toEqual(["c:3", "a:1"]);
    expect(errorOf(() => parseAgentConfig({ manager: "a:1,b" })).message).toContain('manager: expected "host:port" with a port in 1..65535, or several comma-separated ("b" is not)');
    expect(errorOf(() => parseAgentConfig({ managers: ["a:1", "b:0"] })).field).toBe("managers[1]");
    expect(errorOf(() => parseAgentConfig({ managers: [] })).field).toBe("managers");
  });

  it("lets ORBIT_MANAGER and --manager (comma lists too) replace the file's managers", () => {
    const files = fakeFs({ [DEFAULT_AGENT_CONFIG_PATH]: "managers: [a:1, b:2]\n" });
    expect(loadAgentConfig({ argv: [], env: {}, readFile: files.readFile }).managers).toEqual(["a:1", "b:2"]);
    expect(loadAgentConfig({ argv: [], env: { ORBIT_MANAGER: "c:3,d:4" }, readFile: files.readFile }).managers).toEqual(["c:3", "d:4"]);
    expect(loadAgentConfig({ argv: ["--manager", "e:5"], env: { ORBIT_MANAGER: "c:3" }, readFile: files.readFile }).managers).toEqual(["e:5"]);
  });

  it("accepts an empty document as long as the manager comes from elsewhere", () => {
    const c = loadAgentConfig({ argv: [], env: { ORBIT_MANAGER: "10.0.0.1:50051" }, readFile: fakeFs({ [DEFAULT_AGENT_CONFIG_PATH]: "" }).readFile });
    expect(c.manager).toBe("10.0.0.1:50051");
  });
});

describe("parseAgentConfig rejects bad values, naming the key", () => {
  const bad: Array<[string, Record<string, unknown>, string, string]> = [
    ["enum", { libvirt: { domain_type: "xen" } }, "libvirt.domain_type", 'agent.yaml: libvirt.domain_type: expected "kvm" | "qemu", got "xen"'],
    ["manager without port", { manager: "mgr" }, "manager", 'agent.yaml: manager: expected "host:port"'],
    ["manager port range", { manager: "mgr:70000" }, "manager", "got \"mgr:70000\""],
    ["driver", { driver: "xen" }, "driver", 'driver: expected "libvirt" | "simulator", got "xen"'],
    ["cpu_mode", { libvirt: { cpu_mode: "passthrough" } }, "libvirt.cpu_mode", 'libvirt.cpu_mode: expected "host-passthrough" | "host-model" | "custom"'],
    ["host-passthrough under TCG", { libvirt: { domain_type: "qemu", cpu_mode: "host-passthrough" } }, "libvirt.cpu_mode", "host-passthrough needs KVM"],
    ["cdrom bus", { libvirt: { cdrom_bus: "usb" } }, "libvirt.cdrom_bus", 'libvirt.cdrom_bus: expected "scsi" | "sata" | "ide", got "usb"'],
    ["heartbeat interval (the manager sets it)", { heartbeat_interval_ms: 10_000 }, "heartbeat_interval_ms", "heartbeat_interval_ms: no longer read (the manager sets the heartbeat interval when the agent registers (its setting ping.interval)): remove it"],
    ["memory reserve (a manager setting)", { memory_reserve_mib: 2048 }, "memory_reserve_mib", "memory_reserve_mib: no longer read (the memory kept for each host is the manager's setting host.memory.reserve.mib): remove it"],
    ["relative state_dir", { state_dir: "var/lib" }, "state_dir", 'state_dir: expected an absolute path, got "var/lib"'],
    ["tls path type", { tls: { ca_file: 5 } }, "tls.ca_file", "tls.ca_file: expected string, got number 5"],
    ["secure_boot type", { libvirt: { secure_boot: "yes" } }, "libvirt.secure_boot", 'libvirt.secure_boot: expected boolean, got "yes"'],
    ["gpu.enabled type", { gpu: { enabled: "no" } }, "gpu.enabled", "gpu.enabled: expected boolean"],
    ["tag with space", { host: { tags: ["ok", "a b"] } }, "host.tags[1]", 'host.tags[1]: expected a non-empty tag without spaces, got "a b"'],
    ["tags not a list", { host: { tags: "gpu" } }, "host.tags", 'host.tags: expected array, got "gpu"'],
    ["empty environment", { host: { environment: "" } }, "host.environment", "host.environment: expected length >= 1"],
    ["log level", { log_level: "verbose" }, "log_level", 'log_level: expected "fatal" | "error"'],
    ["simulator gpu missing model", { simulator: { gpus: [{ memory_mib: 1 }] } }, "simulator.gpus[0].model", "simulator.gpus[0].model: required (expected string)"],
    ["simulator gpu count", { simulator: { gpus: [{ model: "x", memory_mib: 1, count: 0 }] } }, "simulator.gpus[0].count", "simulator.gpus[0].count: expected >= 1, got number 0"],
    ["simulator gpu numa node out of range", { simulator: { numa_cells: 2, gpus: [{ model: "x", memory_mib: 1, numa_node: 2 }] } }, "simulator.gpus[0].numa_node", "expected a NUMA node below numa_cells (2), got number 2"],
    ["section not a mapping", { libvirt: "kvm" }, "libvirt", 'libvirt: expected object, got "kvm"'],
  ];

  it.each(bad)("%s", (_name, patch, field, message) => {
    const e = errorOf(() => parseAgentConfig({ manager: "m:1", ...patch }));
    expect(e.field).toBe(field);
    expect(e.message).toContain(message);
    expect(e.code).toBe("invalid_argument");
  });

  it("says the manager is required and where it can come from", () => {
    const e = errorOf(() => parseAgentConfig({}));
    expect(e.field).toBe("manager");
    expect(e.message).toMatch(/^agent\.yaml: manager: required .*ORBIT_MANAGER or --manager/);
  });

  it("refuses unknown keys at every level, naming each", () => {
    expect(errorOf(() => parseAgentConfig({ manager: "m:1", heartbeat_ms: 5 })).message).toBe("agent.yaml: heartbeat_ms: unknown key");
    const e = errorOf(() => parseAgentConfig({ manager: "m:1", libvirt: { domaintype: "kvm", foo: 1 } }));
    expect(e.field).toBe("libvirt.domaintype");
    expect(e.message.split("\n")).toEqual(["agent.yaml: libvirt.domaintype: unknown key", "agent.yaml: libvirt.foo: unknown key"]);
    expect(errorOf(() => parseAgentConfig({ manager: "m:1", simulator: { gpus: [{ model: "x", memory_mib: 1, vram: 2 }] } })).field).toBe(
      "simulator.gpus[0].vram",
    );
    // camelCase is the output shape, not a file spelling.
    expect(errorOf(() => parseAgentConfig({ manager: "m:1", stateDir: "/x" })).field).toBe("stateDir");
  });

  it("reports every problem, not just the first", () => {
    const e = errorOf(() => parseAgentConfig({ manager: "m:1", driver: "x", log_level: 3 }));
    expect(e.message.split("\n")).toHaveLength(2);
    expect(e.details.issues).toHaveLength(2);
  });

  it("refuses a document that is not a mapping", () => {
    expect(errorOf(() => parseAgentConfig(["manager"])).message).toBe("agent.yaml: expected a mapping of settings at the top level");
    expect(errorOf(() => parseAgentConfig("manager: x")).message).toContain("expected a mapping");
  });
});

describe("loadAgentConfig", () => {
  const file = "manager: file-mgr:50051\ntoken: file-token\nhost:\n  tags: [gpu]\n";

  it("reads /etc/orbit/agent.yaml by default", () => {
    const fs = fakeFs({ [DEFAULT_AGENT_CONFIG_PATH]: file });
    const c = loadAgentConfig({ argv: [], env: {}, readFile: fs.readFile });
    expect(fs.reads).toEqual([DEFAULT_AGENT_CONFIG_PATH]);
    expect(c).toMatchObject({ manager: "file-mgr:50051", token: "file-token", host: { tags: ["gpu"] } });
  });

  it("takes the path from ORBIT_AGENT_CONFIG, and --config over it", () => {
    const fs = fakeFs({ "/env.yaml": "manager: env-file:1\n", "/flag.yaml": "manager: flag-file:2\n" });
    expect(loadAgentConfig({ argv: [], env: { ORBIT_AGENT_CONFIG: "/env.yaml" }, readFile: fs.readFile }).manager).toBe("env-file:1");
    expect(loadAgentConfig({ argv: ["--config", "/flag.yaml"], env: { ORBIT_AGENT_CONFIG: "/env.yaml" }, readFile: fs.readFile }).manager).toBe("flag-file:2");
    expect(loadAgentConfig({ argv: ["--config=/flag.yaml"], env: {}, readFile: fs.readFile }).manager).toBe("flag-file:2");
    expect(fs.reads).toEqual(["/env.yaml", "/flag.yaml", "/flag.yaml"]);
  });

  it("applies flag > env > file for the manager, env > file for the token", () => {
    const { readFile } = fakeFs({ [DEFAULT_AGENT_CONFIG_PATH]: file });
    const env = { ORBIT_MANAGER: "env-mgr:50051", ORBIT_AGENT_TOKEN: "env-token" };
    expect(loadAgentConfig({ argv: [], env: {}, readFile })).toMatchObject({ manager: "file-mgr:50051", token: "file-token" });
    expect(loadAgentConfig({ argv: [], env, readFile })).toMatchObject({ manager: "env-mgr:50051", token: "env-token" });
    expect(loadAgentConfig({ argv: ["--manager", "flag-mgr:1"], env, readFile })).toMatchObject({ manager: "flag-mgr:1", token: "env-token" });
    expect(loadAgentConfig({ argv: ["--manager=flag-mgr:2"], env: {}, readFile }).manager).toBe("flag-mgr:2");
  });

  it("ignores empty environment variables", () => {
    const { readFile } = fakeFs({ [DEFAULT_AGENT_CONFIG_PATH]: file });
    const c = loadAgentConfig({ argv: [], env: { ORBIT_MANAGER: "", ORBIT_AGENT_TOKEN: "", ORBIT_AGENT_CONFIG: "" }, readFile });
    expect(c).toMatchObject({ manager: "file-mgr:50051", token: "file-token" });
  });

  it("leaves flags it does not own to the caller", () => {
    const { readFile } = fakeFs({ [DEFAULT_AGENT_CONFIG_PATH]: file });
    expect(loadAgentConfig({ argv: ["--verbose", "serve", "--manager", "x:3"], env: {}, readFile }).manager).toBe("x:3");
  });

  it("names the source of a bad overridden value", () => {
    const { readFile } = fakeFs({ [DEFAULT_AGENT_CONFIG_PATH]: file });
    expect(errorOf(() => loadAgentConfig({ argv: [], env: { ORBIT_MANAGER: "nope" }, readFile })).message).toMatch(/^ORBIT_MANAGER: manager: expected "host:port"/);
    expect(errorOf(() => loadAgentConfig({ argv: ["--manager", "nope"], env: {}, readFile })).message).toMatch(/^--manager: manager: expected/);
  });

  it("labels file errors with the file path", () => {
    const { readFile } = fakeFs({ "/etc/a.yaml": "manager: m:1\nlibvirt:\n  domain_type: xen\n" });
    const e = errorOf(() => loadAgentConfig({ argv: ["--config", "/etc/a.yaml"], env: {}, readFile }));
    expect(e.message).toBe('/etc/a.yaml: libvirt.domain_type: expected "kvm" | "qemu", got "xen"');
  });

  it("runs without the default file but not without a file it was told to read", () => {
    const { readFile } = fakeFs({});
    expect(loadAgentConfig({ argv: [], env: { ORBIT_MANAGER: "m:1" }, readFile }).manager).toBe("m:1");
    const e = errorOf(() => loadAgentConfig({ argv: ["--config", "/missing.yaml"], env: { ORBIT_MANAGER: "m:1" }, readFile }));
    expect(e.message).toMatch(/^\/missing\.yaml: cannot read: ENOENT/);
  });

  it("reports a YAML syntax error with the file path", () => {
    const { readFile } = fakeFs({ "/bad.yaml": "manager: [unclosed\n" });
    expect(errorOf(() => loadAgentConfig({ argv: ["--config", "/bad.yaml"], env: {}, readFile })).message).toMatch(/^\/bad\.yaml: invalid YAML/);
  });

  it("refuses a flag without its value", () => {
    expect(errorOf(() => loadAgentConfig({ argv: ["--manager"], env: {}, readFile: fakeFs({}).readFile })).field).toBe("--manager");
    expect(errorOf(() => loadAgentConfig({ argv: ["--config"], env: {}, readFile: fakeFs({}).readFile })).field).toBe("--config");
  });
});

describe("packaging/agent.yaml.example", () => {
  const text = readFileSync(EXAMPLE_PATH, "utf8");

  it("parses, and sets what it documents", () => {
    const c = loadAgentConfig({ argv: ["--config", EXAMPLE_PATH], env: {} });
    expect(c.manager).toBe("orbit-manager.example.net:50051");
    expect(c.driver).toBe("libvirt");
    expect(c.simulator.gpus).toHaveLength(2);
    expect(c.host.tags).toEqual(["gpu", "h100", "nvlink"]);
  });

  it("lists every top-level key of the schema (so it documents them all)", () => {
    const doc = parseYaml(text) as Record<string, unknown>;
    // Removing any documented key must still parse: each is optional except the manager.
    for (const key of Object.keys(doc).filter((k) => k !== "manager")) {
      const { [key]: _dropped, ...rest } = doc;
      expect(() => parseAgentConfig(rest)).not.toThrow();
    }
    const read = Object.keys(agentConfigSchema.in.shape).filter((k) => !(k in REMOVED_AGENT_CONFIG_KEYS));
    expect(Object.keys(doc).sort()).toEqual(read.sort());
  });
});
