// Examples of the /v1/admin requests and answers, shown in /openapi.json and /docs. Taken from a real
// session against `npm start`; test/e2e/openapi-examples.test.ts validates each one against its
// route's schemas.
import type { OperationExamples } from "../openapi-examples.js";

/** A user of an account: its API keys act as it (role user: the /v1/core API in its account). */
const user = {
  id: 3,
  account_id: 2,
  name: "ada",
  email: "ada@acme.example",
  role: "user",
  disabled: false,
  created_at: "2026-12-04T18:50:16.137Z",
  updated_at: "2026-12-04T18:50:16.137Z",
};

/** The environment's network: its addresses, and the floating IPs it hands out. */
const network = {
  id: 1,
  environment_id: 1,
  environment_name: "research-eu",
  region_id: 1,
  cidr: "10.128.0.0/24",
  prefix_length: 24,
  gateway: "10.128.0.1",
  bridge: "orb-1",
  nameservers: ["1.1.1.1", "8.8.8.8"],
  floating_ip_pool: null,
  addresses_in_use: 0,
  floating_ips_in_use: 0,
  created_at: "2026-12-04T18:50:10.467Z",
  updated_at: "2026-12-04T18:50:10.467Z",
};

/** The pool the first start makes for each cluster: a folder on each host. */
const localPool = {
  id: 1,
  name: "default-default-local",
  cluster_id: 1,
  cluster: "default",
  region: "default",
  kind: "local",
  path: "volumes",
  capacity_gib: 1024,
  allocated_gib: 253,
  free_gib: 771,
  volume_count: 2,
  root_disk_count: 1,
  snapshot_count: 1,
  snapshot_gib: 3,
  created_at: "2026-12-04T18:49:47.874Z",
  updated_at: "2026-12-04T18:49:47.874Z",
};

/** A shared pool: one NFS export mounted on every host of the cluster. */
const sharedPool = {
  id: 2,
  name: "nfs-shared",
  cluster_id: 1,
  cluster: "default",
  region: "default",
  kind: "shared",
  path: "/mnt/nfs/orbit-volumes",
  capacity_gib: 10240,
  allocated_gib: 0,
  free_gib: 10240,
  volume_count: 0,
  root_disk_count: 0,
  snapshot_count: 0,
  snapshot_gib: 0,
  created_at: "2026-12-04T18:51:49.126Z",
  updated_at: "2026-12-04T18:51:49.126Z",
};

/** A live migration under way, as GET /v1/admin/migrations/{id} shows it. */
const migration = {
  id: 7,
  vm_id: 42,
  job_id: 311,
  source_host_id: 3,
  destination_host_id: 4,
  mode: "live",
  storage_motion: false,
  state: "running",
  reserved: { vcpus: 4, memory_mib: 16384, disk_gib: 0 },
  progress: {
    at: "2026-12-05T00:41:12.503Z",
    elapsed_ms: 4210,
    data_processed_bytes: 9663676416,
    data_remaining_bytes: 7516192768,
    data_total_bytes: 17179869184,
    dirty_rate_pages_per_sec: 1830,
    memory_bandwidth_bps: 2281701376,
    expected_downtime_ms: 212,
    iteration: 2,
  },
  cancel_requested: false,
  downtime_ms: null,
  total_ms: null,
  error: null,
  created_at: "2026-12-05T00:41:08.011Z",
  finished_at: null,
};

export const adminExamples: OperationExamples = {
  "GET /v1/admin/managers": {
    response: {
      status: true,
      message: "Getting managers success",
      count: 2,
      managers: [
        {
          id: "5b0d8f5e-2a4c-4d61-9a43-0f7f6c1f2e11", hostname: "mgr-b", pid: 48211, version: "0.1.0",
          started_at: "2026-12-05T03:40:02.114Z", last_seen: "2026-12-05T03:52:17.520Z", stopped_at: null,
          alive: true, self: true, duties: [], jobs_leased: 1,
        },
        {
          id: "c1e3a7d2-90f4-4b8e-8d5a-3e2b1f6a9c07", hostname: "mgr-a", pid: 47102, version: "0.1.0",
          started_at: "2026-12-05T03:12:44.901Z", last_seen: "2026-12-05T03:52:16.003Z", stopped_at: null,
          alive: true, self: false, duties: ["account-usage-compaction", "ha", "host-liveness", "vm-metrics-purge"], jobs_leased: 3,
        },
      ],
    },
  },
  "GET /v1/admin/accounts": {
    response: {
      status: true,
      message: "Getting accounts success",
      count: 2,
      accounts: [
        {
          id: 1,
          name: "admin",
          disabled: false,
          limits: { vms: null, vcpus: null, memory_mib: null, gpus: null },
          usage: { vms: 2, vcpus: 30, memory_mib: 188416, gpus: 1 },
          created_at: "2026-12-04T18:49:47.846Z",
          updated_at: "2026-12-04T18:49:47.846Z",
        },
      ],
    },
  },
  "POST /v1/admin/accounts": {
    request: { name: "acme-research", limits: { vms: 20, gpus: 16 } },
    response: {
      status: true,
      message: "Account created",
      account: {
        id: 2,
        name: "acme-research",
        disabled: false,
        limits: { vms: 20, vcpus: null, memory_mib: null, gpus: 16 },
        usage: { vms: 0, vcpus: 0, memory_mib: 0, gpus: 0 },
        created_at: "2026-12-04T18:50:16.060Z",
        updated_at: "2026-12-04T18:50:16.060Z",
      },
    },
  },
  "DELETE /v1/admin/accounts/{id}": {
    response: { status: true, message: "Account deleted" },
  },
  "GET /v1/admin/accounts/{id}": {
    response: {
      status: true,
      message: "Getting account success",
      account: {
        id: 2,
        name: "acme-research",
        disabled: false,
        limits: { vms: 20, vcpus: null, memory_mib: null, gpus: 16 },
        usage: { vms: 0, vcpus: 0, memory_mib: 0, gpus: 0 },
        created_at: "2026-12-04T18:50:16.060Z",
        updated_at: "2026-12-04T18:50:16.060Z",
      },
    },
  },
  "PUT /v1/admin/accounts/{id}": {
    request: { limits: { vms: 40, gpus: 32, memory_mib: null } },
    response: {
      status: true,
      message: "Account updated",
      account: {
        id: 2,
        name: "acme-research",
        disabled: false,
        limits: { vms: 40, vcpus: null, memory_mib: null, gpus: 32 },
        usage: { vms: 0, vcpus: 0, memory_mib: 0, gpus: 0 },
        created_at: "2026-12-04T18:50:16.060Z",
        updated_at: "2026-12-04T18:50:16.086Z",
      },
    },
  },
  "GET /v1/admin/accounts/{id}/api-keys": {
    response: {
      status: true,
      message: "Getting API keys success",
      count: 1,
      api_keys: [
        {
          id: 2,
          account_id: 2,
          user_id: 2,
          name: "ci",
          description: "CI pipeline",
          role: "user",
          key: "orb_Xq4vN8c2…",
          created_at: "2026-12-04T18:50:16.118Z",
        },
      ],
    },
  },
  "POST /v1/admin/accounts/{id}/api-keys": {
    request: { name: "ci", description: "CI pipeline", role: "user" },
    response: {
      status: true,
      message: "API key created: store it now, it is not shown again",
      api_key: {
        id: 2,
        account_id: 2,
        user_id: 2,
        name: "ci",
        description: "CI pipeline",
        role: "user",
        key: "orb_Xq4vN8c2LrT6hW1zKp9sBd3fYj7mGe5a",
        created_at: "2026-12-04T18:50:16.118Z",
      },
    },
  },
  "DELETE /v1/admin/accounts/{id}/api-keys/{key_id}": {
    response: { status: true, message: "API key revoked" },
  },
  "POST /v1/admin/accounts/{id}/disable": {
    response: {
      status: true,
      message: "Account disabled",
      account: {
        id: 2,
        name: "acme-research",
        disabled: true,
        limits: { vms: 40, vcpus: null, memory_mib: null, gpus: 32 },
        usage: { vms: 0, vcpus: 0, memory_mib: 0, gpus: 0 },
        created_at: "2026-12-04T18:50:16.060Z",
        updated_at: "2026-12-04T18:50:16.097Z",
      },
    },
  },
  "POST /v1/admin/accounts/{id}/enable": {
    response: {
      status: true,
      message: "Account enabled",
      account: {
        id: 2,
        name: "acme-research",
        disabled: false,
        limits: { vms: 40, vcpus: null, memory_mib: null, gpus: 32 },
        usage: { vms: 0, vcpus: 0, memory_mib: 0, gpus: 0 },
        created_at: "2026-12-04T18:50:16.060Z",
        updated_at: "2026-12-04T18:50:16.102Z",
      },
    },
  },
  "GET /v1/admin/clusters": {
    response: {
      status: true,
      message: "Getting clusters success",
      clusters: [
        { id: 1, name: "default", pod: "default", environment: "default", settings: {} },
      ],
    },
  },
  "PUT /v1/admin/clusters/{id}/settings/{name}": {
    request: { value: 1.5 },
    response: {
      status: true,
      message: "Cluster setting updated",
      setting: { cluster_id: 1, name: "cpu.overprovisioning.factor", value: 1.5 },
    },
  },
  "GET /v1/admin/flavors": {
    response: {
      status: true,
      message: "Getting flavors success",
      count: 27,
      flavors: [
        {
          id: 4,
          name: "n3-H100x1",
          cpu: 28,
          ram: 180,
          disk: 100,
          gpu: "NVIDIA H100 80GB HBM3",
          gpu_count: 1,
          vgpu_type: null,
          gpu_share_milli: null,
          host_tags: [],
          cpu_type: null,
          region_name: "default",
          labels: [],
          features: { network_optimised: false },
          retired_at: null,
          created_at: "2026-12-04T18:49:47.837Z",
        },
      ],
    },
  },
  "POST /v1/admin/flavors": {
    request: { name: "n3-A100x1", cpu: 24, ram: 120, disk: 100, gpu: "NVIDIA A100-SXM4-80GB", gpu_count: 1 },
    response: {
      status: true,
      message: "Flavor created",
      flavor: {
        id: 28,
        name: "n3-A100x1",
        cpu: 24,
        ram: 120,
        disk: 100,
        gpu: "NVIDIA A100-SXM4-80GB",
        gpu_count: 1,
        vgpu_type: null,
        gpu_share_milli: null,
        host_tags: [],
        cpu_type: null,
        region_name: "default",
        labels: [],
        features: { network_optimised: false },
        retired_at: null,
        created_at: "2026-12-04T18:50:16.040Z",
      },
    },
  },
  "DELETE /v1/admin/flavors/{id}": {
    response: { status: true, message: "Flavor deleted" },
  },
  "GET /v1/admin/flavors/{id}": {
    response: {
      status: true,
      message: "Getting flavor success",
      flavor: {
        id: 27,
        name: "n3-A100x2",
        cpu: 48,
        ram: 240,
        disk: 200,
        gpu: "NVIDIA A100-SXM4-80GB",
        gpu_count: 2,
        vgpu_type: null,
        gpu_share_milli: null,
        host_tags: [],
        cpu_type: null,
        region_name: "default",
        labels: [],
        features: { network_optimised: false },
        retired_at: null,
        created_at: "2026-12-04T18:50:15.990Z",
      },
    },
  },
  "PUT /v1/admin/flavors/{id}": {
    request: { ram: 256, disk: 400 },
    response: {
      status: true,
      message: "Flavor changed",
      flavor: {
        id: 27,
        name: "n3-A100x2",
        cpu: 48,
        ram: 256,
        disk: 400,
        gpu: "NVIDIA A100-SXM4-80GB",
        gpu_count: 2,
        vgpu_type: null,
        gpu_share_milli: null,
        host_tags: [],
        cpu_type: null,
        region_name: "default",
        labels: [],
        features: { network_optimised: false },
        retired_at: null,
        created_at: "2026-12-04T18:50:15.990Z",
      },
    },
  },
  "POST /v1/admin/flavors/{id}/retire": {
    response: {
      status: true,
      message: "Flavor retired",
      flavor: {
        id: 27,
        name: "n3-A100x2",
        cpu: 48,
        ram: 256,
        disk: 400,
        gpu: "NVIDIA A100-SXM4-80GB",
        gpu_count: 2,
        vgpu_type: null,
        gpu_share_milli: null,
        host_tags: [],
        cpu_type: null,
        region_name: "default",
        labels: [],
        features: { network_optimised: false },
        retired_at: "2026-12-04T18:50:16.032Z",
        created_at: "2026-12-04T18:50:15.990Z",
      },
    },
  },
  "GET /v1/admin/hosts": {
    response: {
      status: true,
      message: "Getting hosts success",
      count: 4,
      hosts: [
        {
          id: 3,
          uuid: "5e1a0000-0000-4000-8000-000000000003",
          name: "sim-h100-1",
          environment: "default",
          cluster: "default",
          state: "Up",
          ha_reason: "",
          resource_state: "Enabled",
          hypervisor: "simulator",
          driver: "simulator",
          cpu_model: "Simulated x86_64",
          tags: ["gpu"],
          last_heartbeat_at: "2026-12-04T18:50:08.347Z",
          connected_manager_id: "0b7d3c4e-5f6a-4b8c-9d0e-1f2a3b4c5d6e",
          agent_version: "0.1.0",
          hypervisor_version: "QEMU 8.2.2, libvirt 10.0.0",
          migration_uri: "qemu+tcp://10.0.1.11/system",
          cluster_address: "10.0.1.11",
          discovery_warnings: [],
          capacity: {
            cpus: 256,
            sockets: 2,
            cores_per_socket: 64,
            threads_per_core: 2,
            memory_mib: 2097152,
            memory_reserve_mib: 2048,
            numa_cells: [
              { id: 0, cpus: [0, 1, 2, 3, 4, 5, 6, 7], memory_mib: 1048576 },
            ],
          },
          allocated: { vcpus: 28, memory_mib: 184320, vms: 1 },
          unmanaged_domains: [],
          gpus: [
            {
              id: 1,
              pci_address: "0000:18:00.0",
              uuid: "GPU-21ec8664-7592-295c-ac40-6c93ec4a20e2",
              model: "NVIDIA H100 80GB HBM3",
              memory_mib: 81559,
              numa_node: 0,
              nvlink_peers: [
                "0000:19:00.0",
                "0000:1a:00.0",
                "0000:1b:00.0",
                "0000:1c:00.0",
                "0000:1d:00.0",
                "0000:1e:00.0",
                "0000:1f:00.0",
              ],
              vgpu_types: [],
              present: true,
              allocations: [
                { vm_id: 1, mode: "passthrough", vgpu_type: "", share_milli: 1000 },
              ],
            },
          ],
        },
      ],
    },
  },
  "GET /v1/admin/hosts/{id}": {
    response: {
      status: true,
      message: "Getting host success",
      host: {
        id: 1,
        uuid: "0a8a0000-0000-4000-8000-00000000000a",
        name: "ha-a",
        environment: "default",
        cluster: "default",
        state: "Down",
        ha_reason: "unreachable from ha-d, ha-c, ha-b and its storage heartbeat is 5412 ms old (past 5000 ms): it fenced itself or is dead",
        resource_state: "Enabled",
        hypervisor: "simulator",
        driver: "simulator",
        cpu_model: "Simulated x86_64",
        tags: [],
        last_heartbeat_at: "2026-12-05T00:36:10.101Z",
        connected_manager_id: null,
        agent_version: "0.1.0",
        hypervisor_version: "simulator 1.0",
        migration_uri: "simulator://ha-a",
        cluster_address: "10.0.1.12",
        discovery_warnings: [],
        capacity: {
          cpus: 16, sockets: 1, cores_per_socket: 16, threads_per_core: 1, memory_mib: 32768, memory_reserve_mib: 2048,
          numa_cells: [{ id: 0, cpus: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15], memory_mib: 32768 }],
        },
        allocated: { vcpus: 0, memory_mib: 0, vms: 0 },
        unmanaged_domains: [],
        gpus: [],
      },
      ha: {
        state: "Down",
        reason: "unreachable from ha-d, ha-c, ha-b and its storage heartbeat is 5412 ms old (past 5000 ms): it fenced itself or is dead",
        storage_heartbeat_dir: "/srv/orbit-ha",
        checked_at: "2026-12-05T00:36:16.512Z",
        evidence: [
          {
            neighbour_host_id: 2, neighbour: "ha-b", answered: true, reachable: false, storage_heartbeat_seen: true, storage_heartbeat_age_ms: 5412,
            detail: "10.0.1.12: ping: no answer in time; tcp 22: no answer within 1000 ms. heartbeat 5412 ms old",
          },
        ],
      },
    },
  },
  "POST /v1/admin/hosts/{id}/declare-down": {
    request: { note: "powered off through IPMI" },
    response: {
      status: true, message: "Host declared Down",
      host: { id: 4, state: "Down", ha_reason: "declared Down by an admin (fenced by hand): powered off through IPMI" },
    },
  },
  "PUT /v1/admin/virtual-machines/{id}/ha": {
    request: { ha_enabled: true, ha_priority: 10 },
    response: { status: true, message: "Virtual machine HA updated", virtual_machine: { id: 7, ha_enabled: true, ha_priority: 10, run_strategy: null } },
  },
  "PUT /v1/admin/hosts/{id}": {
    request: { resource_state: "Enabled" },
    response: { status: true, message: "Host updated", host: { id: 4, resource_state: "Enabled" } },
  },
  "DELETE /v1/admin/hosts/{id}": {
    response: { status: true, message: "Host removed", host: { id: 4, uuid: "9a000000-0000-4000-8000-000000000004", revoked: ["4f1c2a7d9e0b3c58"] } },
  },
  "POST /v1/admin/hosts/{id}/maintenance": {
    request: { allow_cold_migration: false },
    response: {
      status: true, message: "Host maintenance started",
      maintenance: {
        host_id: 4, resource_state: "PrepareForMaintenance", started_at: "2026-12-05T00:30:00.000Z", allow_cold_migration: false, job_id: 812,
        vms_total: 0, vms_moved: 0, vms_remaining: 0, vms: [],
      },
    },
  },
  "GET /v1/admin/hosts/{id}/maintenance": {
    response: {
      status: true, message: "Getting host maintenance success",
      maintenance: {
        host_id: 4, resource_state: "PrepareForMaintenance", started_at: "2026-12-05T00:30:00.000Z", allow_cold_migration: false, job_id: 812,
        vms_total: 3, vms_moved: 1, vms_remaining: 2,
        vms: [
          { vm_id: 17, status: "moved", job_id: 813, migration_id: 40, destination_host_id: 5, mode: "live" },
          {
            vm_id: 18, status: "migrating", job_id: 814, migration_id: 41, destination_host_id: 6, mode: "live", progress: 62,
            migration: { data_processed_bytes: 2684354560, data_remaining_bytes: 1610612736, dirty_rate_pages_per_sec: 1200, expected_downtime_ms: 180, iteration: 3 },
          },
          {
            vm_id: 19, status: "blocked",
            reason: "gpu_passthrough: a VM with a passthrough GPU cannot be live-migrated; start maintenance with allow_cold_migration to stop, move and start it, or stop the VM",
          },
        ],
      },
    },
  },
  "DELETE /v1/admin/hosts/{id}/maintenance": {
    response: {
      status: true, message: "Host maintenance cancelled", host: { id: 4, resource_state: "Enabled" },
      still_migrating: [{ vm_id: 18, status: "migrating", job_id: 814, migration_id: 41, destination_host_id: 6, mode: "live", progress: 62 }],
    },
  },
  "GET /v1/admin/hosts/{id}/certificates": {
    response: { status: true, message: "Getting host certificates success", certificates: [] },
  },
  "POST /v1/admin/hosts/{id}/reset-identity": {
    response: { status: true, message: "Host identity reset: it may register again with a join token", revoked: [] },
  },
  "POST /v1/admin/hosts/{id}/revoke-certificate": {
    response: { status: true, message: "Revoked 0 certificate(s)", revoked: [] },
  },
  "GET /v1/admin/virtual-machines/{id}/migration-hosts": {
    response: {
      status: true,
      message: "1 suitable host(s)",
      migration_hosts: {
        vm_id: 42,
        source_host_id: 3,
        mode: "live",
        storage_motion: false,
        hosts: [
          { host_id: 4, host_name: "kvm-02", suitable: true, reasons: [] },
          {
            host_id: 5, host_name: "kvm-03", suitable: false,
            reasons: [
              { code: "no_migration_uri", message: "host kvm-03 reports no migration URI (agent setting host.migration_uri): it cannot receive a live migration" },
              { code: "memory_capacity", message: "needs 16384 MiB, 8192 MiB free" },
            ],
          },
        ],
      },
    },
  },
  "POST /v1/admin/virtual-machines/{id}/migrate": {
    request: { host_id: 4, mode: "live" },
    response: { status: true, message: "Migration started", migration: { job_id: 311, migration_id: 7, destination_host_id: 4 } },
  },
  "POST /v1/admin/virtual-machines/{id}/migrate/cancel": {
    response: { status: true, message: "Migration cancel requested", migration: { migration_id: 7, job_id: 311 } },
  },
  "GET /v1/admin/virtual-machines/{id}/migrations": {
    response: { status: true, message: "Getting migrations success", migrations: [migration] },
  },
  "GET /v1/admin/migrations/{id}": {
    response: { status: true, message: "Getting migration success", migration },
  },
  "POST /v1/admin/placement/dry-run": {
    request: { flavor_name: "n3-H100x2", image_name: "Ubuntu Server 22.04 LTS", count: 1 },
    response: {
      status: true,
      message: "placement found",
      result: {
        ok: true,
        plan: {
          policy: "firstfit/vertical",
          seed: 1205620835,
          decided_at: "2026-12-04T18:50:15.936Z",
          placements: [
            {
              index: 0,
              host_id: "3",
              host_name: "sim-h100-1",
              vcpus: 60,
              memory_mib: 368640,
              gpus: [
                { gpu_id: "2", model: "NVIDIA H100 80GB HBM3", mode: "passthrough" },
              ],
              scores: [
                { scorer: "os-type", score: 0.5, weight: 32 },
                { scorer: "gpu-packing-order", score: 0.96875, weight: 8 },
                { scorer: "firstfit", score: 0.5, weight: 0.01 },
                { scorer: "gpu-locality", score: 1, weight: 32 },
                { scorer: "allocated-capacity", score: 0.07133201979472141, weight: 1 },
                { scorer: "gpu-fragmentation", score: 0.5000000000000001, weight: 16 },
                { scorer: "gpu-resource-balance", score: 0.5, weight: 16 },
              ],
              total: 71.82633201979472,
              numa_node: 0,
              pinned_cpus: [28, 29, 30, 31, 32, 33, 34, 35],
            },
          ],
        },
      },
    },
  },
  "POST /v1/admin/regions": {
    request: { name: "eu-north", description: "Stockholm" },
    response: {
      status: true,
      message: "Region created",
      region: { id: 6, name: "eu-north", description: "Stockholm", country: "", green_status: "NOT_GREEN", features: {} },
    },
  },
  "GET /v1/admin/registration-tokens": {
    response: {
      status: true,
      message: "Getting registration tokens success",
      count: 1,
      registration_tokens: [
        {
          id: 1,
          note: "rack 12, host gpu-h100-07",
          state: "active",
          created_at: "2026-12-04T18:50:15.965Z",
          expires_at: "2026-12-04T19:50:15.965Z",
          used_at: null,
          used_by_host_id: null,
          revoked_at: null,
        },
      ],
    },
  },
  "POST /v1/admin/registration-tokens": {
    request: { expires_in_seconds: 3600, note: "rack 12, host gpu-h100-07" },
    response: {
      status: true,
      message: "Registration token created (shown once)",
      token: "ort_Hn2x8QpL5vR1cW7kZt4yBm9dFs3gJa6eUo0iXr2NwKq",
      registration_token: {
        id: 1,
        note: "rack 12, host gpu-h100-07",
        state: "active",
        created_at: "2026-12-04T18:50:15.965Z",
        expires_at: "2026-12-04T19:50:15.965Z",
        used_at: null,
        used_by_host_id: null,
        revoked_at: null,
      },
      ca_pem: "-----BEGIN CERTIFICATE-----\nMIIBljCCATugAwIBAgIQWAoiVxAvActj3RCCkCOI+zAKBggqhkjOPQQDAjApMRcw\nFQYDVQQDEw5PcmJpdCBhZ2VudCBDQTEOMAwGA1UEChMFT3JiaXQwHhcNMjYxMjA0\nMTg0NDQ3WhcNMzYxMjAxMTg0OTQ3WjApMRcwFQYDVQQDEw5PcmJpdCBhZ2VudCBD\nQTEOMAwGA1UEChMFT3JiaXQwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAATGfeBH\nrgiWGMndJmbuXViSLxw0j2gTgHvq/aTg9i8TLlJKBahOisPk9oYimPdXyUYvUwk9\nMlgIYa2O4Qgw6Meoo0UwQzASBgNVHRMBAf8ECDAGAQH/AgEAMA4GA1UdDwEB/wQE\nAwIBBjAdBgNVHQ4EFgQUNDoaofgbbsoz4TxfX3QaI8m6Ml0wCgYIKoZIzj0EAwID\nSQAwRgIhALeUVR3LqFrPxU+BtkAw9vtoAm9RIjf3VS3UKiTEg6BLAiEAw0OcRBJ3\nFQbwKEMbd5OkvpiKqRPTlB18e3SlYgVCdqI=\n-----END CERTIFICATE-----",
      ca_sha256: "1b2b9655616982b89639b79ec5985ae01ba5682ed9d0fa65b15f7f33bfdc5729",
    },
  },
  "DELETE /v1/admin/registration-tokens/{id}": {
    response: {
      status: true,
      message: "Registration token revoked",
      registration_token: {
        id: 1,
        note: "rack 12, host gpu-h100-07",
        state: "revoked",
        created_at: "2026-12-04T18:50:15.965Z",
        expires_at: "2026-12-04T19:50:15.965Z",
        used_at: null,
        used_by_host_id: null,
        revoked_at: "2026-12-04T18:50:15.976Z",
      },
    },
  },
  "GET /v1/admin/settings": {
    response: {
      status: true,
      message: "Getting settings success",
      settings: [
        {
          name: "ping.interval",
          description: "How often agents send a heartbeat with the power state of every domain (seconds).",
          type: "number",
          value: 10,
          default: 10,
          is_default: true,
          min: 0.2,
          max: 600,
          scopes: ["global"],
          scope: "global",
          scope_id: null,
          set_here: false,
          value_from: "default",
          value_from_id: null,
        },
        {
          name: "host.memory.reserve.mib",
          description: "Memory kept for the host itself, not given to VMs (MiB).",
          type: "number",
          value: 4096,
          default: 2048,
          is_default: false,
          min: 0,
          max: 1048576,
          scopes: ["global", "cluster", "host"],
          scope: "global",
          scope_id: null,
          set_here: true,
          value_from: "global",
          value_from_id: null,
        },
      ],
    },
  },
  "GET /v1/admin/settings/{name}": {
    response: {
      status: true,
      message: "Getting setting success",
      setting: {
        name: "cpu.overprovisioning.factor",
        description: "vCPUs allocatable per logical CPU",
        type: "number",
        value: 2,
        default: 1,
        is_default: false,
        min: 0.1,
        max: 16,
        scopes: ["global", "cluster"],
        scope: "cluster",
        scope_id: 1,
        set_here: true,
        value_from: "cluster",
        value_from_id: 1,
      },
    },
  },
  "PUT /v1/admin/settings/{name}": {
    request: { value: 2 },
    response: { status: true, message: "Setting updated", setting: { name: "cpu.overprovisioning.factor", value: 2, scope: "cluster", scope_id: 1 } },
  },
  "DELETE /v1/admin/settings/{name}": {
    response: {
      status: true,
      message: "Setting reset",
      setting: {
        name: "cpu.overprovisioning.factor",
        description: "vCPUs allocatable per logical CPU",
        type: "number",
        value: 1.5,
        default: 1,
        is_default: false,
        min: 0.1,
        max: 16,
        scopes: ["global", "cluster"],
        scope: "cluster",
        scope_id: 1,
        set_here: false,
        value_from: "global",
        value_from_id: null,
      },
    },
  },
  "GET /v1/admin/settings/audit": {
    response: {
      status: true,
      message: "Getting setting changes success",
      count: 2,
      page: 1,
      page_size: 50,
      changes: [
        {
          id: 2, name: "cpu.overprovisioning.factor", scope: "cluster", scope_id: 1, old_value: 2, new_value: null,
          user_id: 1, api_key_id: 1, changed_at: "2026-12-04T18:52:03.114Z",
        },
        {
          id: 1, name: "cpu.overprovisioning.factor", scope: "cluster", scope_id: 1, old_value: null, new_value: 2,
          user_id: 1, api_key_id: 1, changed_at: "2026-12-04T18:51:40.502Z",
        },
      ],
    },
  },
  "POST /v1/admin/accounts/{id}/users": {
    request: { name: "ada", email: "ada@acme.example", role: "user" },
    response: { status: true, message: "User created", user },
  },
  "GET /v1/admin/accounts/{id}/users": {
    response: { status: true, message: "Getting users success", count: 1, users: [user] },
  },
  "GET /v1/admin/accounts/{id}/users/{user_id}": {
    response: { status: true, message: "Getting user success", user },
  },
  "PATCH /v1/admin/accounts/{id}/users/{user_id}": {
    request: { email: "ada.lovelace@acme.example", role: "admin" },
    response: {
      status: true,
      message: "User updated",
      user: { ...user, email: "ada.lovelace@acme.example", role: "admin", updated_at: "2026-12-04T18:50:16.222Z" },
    },
  },
  "DELETE /v1/admin/accounts/{id}/users/{user_id}": {
    response: { status: true, message: "User deleted" },
  },
  "GET /v1/admin/accounts/{id}/users/{user_id}/api-keys": {
    response: {
      status: true,
      message: "Getting API keys success",
      count: 1,
      api_keys: [
        {
          id: 3,
          account_id: 2,
          user_id: 3,
          name: "notebook",
          description: "Jupyter on my laptop",
          role: "user",
          key: "orb_a6Bs6kFh…",
          created_at: "2026-12-04T18:50:16.257Z",
        },
      ],
    },
  },
  "POST /v1/admin/accounts/{id}/users/{user_id}/api-keys": {
    request: { name: "notebook", description: "Jupyter on my laptop" },
    response: {
      status: true,
      message: "API key created: store it now, it is not shown again",
      api_key: {
        id: 3,
        account_id: 2,
        user_id: 3,
        name: "notebook",
        description: "Jupyter on my laptop",
        role: "user",
        key: "orb_a6Bs6kFhQ7mYkzeL9uuWfTwJCaVdHZ5e",
        created_at: "2026-12-04T18:50:16.257Z",
      },
    },
  },
  "GET /v1/admin/environments/{id}/network": {
    response: { status: true, message: "Getting network success", network },
  },
  "PUT /v1/admin/environments/{id}/network": {
    request: { floating_ip_pool: "203.0.113.0/28" },
    response: {
      status: true,
      message: "Network updated",
      network: { ...network, floating_ip_pool: "203.0.113.0/28", updated_at: "2026-12-04T18:50:44.826Z" },
    },
  },
  "POST /v1/admin/images": {
    request: {
      name: "Ubuntu Server 24.04 LTS", url: "https://cloud-images.ubuntu.com/noble/current/noble-server-cloudimg-amd64.img",
      checksum: "sha256:3c1f0cbb1e3e2a5e6a0d2b4f1c9e8d7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e", type: "qcow2", region: "default",
      os_type: "linux", version: "24.04", description: "Ubuntu cloud image with the team's tools", labels: ["ubuntu"], account_id: 7,
    },
    response: { status: true, message: "Image 9 registered: downloading (job 41)", image: {
        id: 9, name: "Ubuntu Server 24.04 LTS", status: "Downloading", region_name: "default", os_type: "linux", format: "qcow2",
        bootable: false, version: "24.04", description: "Ubuntu cloud image with the team's tools", is_public: false, account_id: 7, labels: ["ubuntu"],
        source_url: "https://cloud-images.ubuntu.com/noble/current/noble-server-cloudimg-amd64.img",
        checksum: "sha256:3c1f0cbb1e3e2a5e6a0d2b4f1c9e8d7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e", path: "image-9.qcow2",
        size_bytes: null, virtual_size_bytes: null,
        download_progress: { bytes: 268435456, total_bytes: 613416960, percent: 43, rate_bytes_per_s: 52428800 },
        error: "", job_id: 41, created_at: "2026-12-04T19:40:02.118Z",
      }, job_id: 41 },
  },
  "GET /v1/admin/images": {
    response: { status: true, message: "1 image(s)", count: 1, images: [{
        id: 9, name: "Ubuntu Server 24.04 LTS", status: "Ready", region_name: "default", os_type: "linux", format: "qcow2",
        bootable: false, version: "24.04", description: "Ubuntu cloud image with the team's tools", is_public: false, account_id: 7, labels: ["ubuntu"],
        source_url: "https://cloud-images.ubuntu.com/noble/current/noble-server-cloudimg-amd64.img",
        checksum: "sha256:3c1f0cbb1e3e2a5e6a0d2b4f1c9e8d7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e", path: "image-9.qcow2",
        size_bytes: 613416960, virtual_size_bytes: 3758096384,
        download_progress: { bytes: 613416960, total_bytes: 613416960, percent: 100, rate_bytes_per_s: 51118080 },
        error: "", job_id: 41, created_at: "2026-12-04T19:40:02.118Z",
      }] },
  },
  "GET /v1/admin/images/{id}": {
    response: { status: true, message: "Image 9", image: {
        id: 9, name: "Ubuntu Server 24.04 LTS", status: "Ready", region_name: "default", os_type: "linux", format: "qcow2",
        bootable: false, version: "24.04", description: "Ubuntu cloud image with the team's tools", is_public: false, account_id: 7, labels: ["ubuntu"],
        source_url: "https://cloud-images.ubuntu.com/noble/current/noble-server-cloudimg-amd64.img",
        checksum: "sha256:3c1f0cbb1e3e2a5e6a0d2b4f1c9e8d7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e", path: "image-9.qcow2",
        size_bytes: 613416960, virtual_size_bytes: 3758096384,
        download_progress: { bytes: 613416960, total_bytes: 613416960, percent: 100, rate_bytes_per_s: 51118080 },
        error: "", job_id: 41, created_at: "2026-12-04T19:40:02.118Z",
      } },
  },
  "PATCH /v1/admin/images/{id}": {
    request: { region: "", is_public: true, account_id: null, labels: ["ubuntu", "lts"] },
    response: { status: true, message: "Image changed", image: {
        id: 9, name: "Ubuntu Server 24.04 LTS", status: "Ready", region_name: "", os_type: "linux", format: "qcow2",
        bootable: false, version: "24.04", description: "Ubuntu cloud image with the team's tools", is_public: true, account_id: null, labels: ["ubuntu", "lts"],
        source_url: "https://cloud-images.ubuntu.com/noble/current/noble-server-cloudimg-amd64.img",
        checksum: "sha256:3c1f0cbb1e3e2a5e6a0d2b4f1c9e8d7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e", path: "image-9.qcow2",
        size_bytes: 613416960, virtual_size_bytes: 3758096384,
        download_progress: { bytes: 613416960, total_bytes: 613416960, percent: 100, rate_bytes_per_s: 51118080 },
        error: "", job_id: 41, created_at: "2026-12-04T19:40:02.118Z",
      } },
  },
  "DELETE /v1/admin/images/{id}": {
    response: { status: true, message: "Image 9 deleted" },
  },
  "GET /v1/admin/storage-pools": {
    response: { status: true, message: "Getting storage pools success", count: 2, storage_pools: [localPool, sharedPool] },
  },
  "POST /v1/admin/storage-pools": {
    request: { name: "nfs-shared", cluster_id: 1, kind: "shared", path: "/mnt/nfs/orbit-volumes", capacity_gib: 10240 },
    response: { status: true, message: "Storage pool created", storage_pool: sharedPool },
  },
  "GET /v1/admin/storage-pools/{id}": {
    response: { status: true, message: "Getting storage pool success", storage_pool: localPool },
  },
  "PATCH /v1/admin/storage-pools/{id}": {
    request: { capacity_gib: 20480 },
    response: {
      status: true,
      message: "Storage pool changed",
      storage_pool: { ...sharedPool, capacity_gib: 20480, free_gib: 20480, updated_at: "2026-12-04T18:51:49.320Z" },
    },
  },
  "DELETE /v1/admin/storage-pools/{id}": {
    response: { status: true, message: "Storage pool deleted" },
  },
};
