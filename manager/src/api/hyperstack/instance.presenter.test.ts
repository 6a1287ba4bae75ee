import { Ajv } from "ajv";
import * as ajvFormats from "ajv-formats";
import { describe, expect, it } from "vitest";
import type { VmDetails } from "../../vm/vm-details.js";
import { VM_STATES } from "../../vm/vm-state-machine.js";
import { hyperstackStatus, instanceView } from "./instance.presenter.js";
import { Instance } from "./instance.schema.js";

const addFormats = ((ajvFormats as unknown as { default?: unknown }).default ?? ajvFormats) as (ajv: Ajv) => Ajv;
const matchesSchema = addFormats(new Ajv({ allErrors: true })).compile(Instance);
/** What the view has that its schema refuses (the serializer would drop or mangle it). */
const schemaErrors = (view: unknown) => (matchesSchema(view) ? [] : matchesSchema.errors);

const at = new Date("2026-01-02T03:04:05.000Z");
const vm: VmDetails = {
  id: 7, uuid: "0a1b2c3d-0000-4000-8000-000000000007", name: "web-1", state: "Running", stateReason: "deployed",
  labels: ["a"], callbackUrl: "", keyName: "laptop", runStrategy: "Halted", haEnabled: true, createdAt: at,
  environment: { id: 1, accountId: 1, name: "default-CANADA-1", regionId: 1, region: "default", createdAt: at },
  flavor: {
    id: 3, name: "t1-tiny", vcpus: 1, memoryMib: 128, diskGib: 0, gpuModel: "", gpuCount: 0, vgpuType: "", gpuShareMilli: 0,
    hostTags: [], cpuType: "", regionName: "default", features: { network_optimised: false }, retiredAt: null, createdAt: at,
  },
  flavorLabels: [{ id: 1, label: "tiny" }],
  image: {
    id: 2, name: "Debian 12", osType: "linux", path: "", format: "qcow2", sizeGib: 0, regionName: "default", version: "", description: "", isPublic: true, accountId: null, createdAt: at,
    status: "Ready", sourceUrl: "", checksum: "", bootable: true, labels: [], sizeBytes: null, virtualSizeBytes: null, storedSha256: "", downloadProgress: null, error: "", jobId: null,
  },
  host: { id: 4, name: "gpu-01" },
  placement: { policy: "firstfit", seed: 9, host: "gpu-01", total: 0.5, scores: [{ scorer: "firstfit", score: 0.5, weight: 1 }], gpus: [{ gpuId: "g1", model: "NVIDIA L40S", mode: "vgpu", vgpuType: "NVIDIA L40S-12Q" }] },
  fixedIp: "10.128.0.2", floatingIp: null,
  securityRules: [
    { id: 11, vmId: 7, createdAt: at, direction: "ingress", ethertype: "IPv4", protocol: "tcp", remoteIpPrefix: "0.0.0.0/0", portRangeMin: 22, portRangeMax: 22 },
    { id: 12, vmId: 7, createdAt: at, direction: "egress", ethertype: "IPv6", protocol: "any", remoteIpPrefix: "::/0" },
  ],
  iso: null,
  volumeAttachments: [{
    id: 5, vmId: 7, status: "attached", device: "/dev/vdb", protected: false, createdAt: at,
    volume: { id: 11, name: "data", sizeGib: 20, description: "", bootable: false, volumeType: "local" },
  }],
};

describe("the Hyperstack instance presenter", () => {
  it("maps Orbit states to Hyperstack statuses", () => {
    expect(hyperstackStatus("Running")).toMatchObject({ status: "ACTIVE", powerState: "RUNNING" });
    expect(hyperstackStatus("Stopped").status).toBe("SHUTOFF");
    expect(hyperstackStatus("Creating").status).toBe("CREATING");
    expect(hyperstackStatus("Destroying").status).toBe("DELETING");
    expect(hyperstackStatus("Unknown")).toMatchObject({ status: "UNKNOWN", powerState: "NOSTATE" });
  });

  it("answers what its schema says, in every state (the serializer drops what the schema does not name)", () => {
    for (const state of VM_STATES) {
      const view = instanceView({ ...vm, state });
      expect(schemaErrors(view), state).toEqual([]);
    }
    expect(schemaErrors({ ...instanceView(vm), unnamed: 1 })).not.toEqual([]);
    expect(instanceView(vm)).toMatchObject({
      status: "ACTIVE", orbit_state: "Running", callback_url: null, host: "gpu-01", created_at: "2026-01-02T03:04:05.000Z",
      flavor: { id: 3, name: "t1-tiny", cpu: 1, ram: 0.125, ephemeral: 0, features: { network_optimised: false }, labels: [{ id: 1, label: "tiny" }], vgpu_type: null, gpu_share_milli: null },
      run_strategy: "Halted", ha_enabled: true,
      environment: { id: 1, name: "default-CANADA-1", org_id: null, region: "default" },
      keypair: { name: "laptop" }, os: "linux", contract_id: null, locked: false, requires_public_ip: false,
      placement: { host: "gpu-01", gpus: [{ gpu_id: "g1", mode: "vgpu", vgpu_type: "NVIDIA L40S-12Q" }] },
    });
    expect(instanceView(vm).security_rules).toEqual([
      { id: 11, direction: "ingress", ethertype: "IPv4", protocol: "tcp", port_range_min: 22, port_range_max: 22, remote_ip_prefix: "0.0.0.0/0", status: "active", created_at: "2026-01-02T03:04:05.000Z" },
      { id: 12, direction: "egress", ethertype: "IPv6", protocol: "any", port_range_min: null, port_range_max: null, remote_ip_prefix: "::/0", status: "active", created_at: "2026-01-02T03:04:05.000Z" },
    ]);
  });

  it("shows no host or placement when the service resolved none (users)", () => {
    const view = instanceView({ ...vm, host: null, placement: null });
    expect(view).toMatchObject({ host: null, placement: null });
    expect(schemaErrors(view)).toEqual([]);
  });
});
