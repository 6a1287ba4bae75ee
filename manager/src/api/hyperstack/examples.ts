// Examples of the /v1/core (and /v1/api-key) requests and answers, shown in /openapi.json and /docs.
// Taken from a real session against `npm start`; test/e2e/openapi-examples.test.ts validates each
// one against its route's schemas, so they cannot drift from what the API accepts and answers.
import type { OperationExamples } from "../openapi-examples.js";

/** One VM as the API shows it to an admin key (host and placement are null for user keys). */
const instance = {
  id: 1,
  uuid: "7ff6d274-dbda-4c8e-915c-3b55d880b57b",
  name: "llm-finetune",
  status: "ACTIVE",
  power_state: "RUNNING",
  vm_state: "active",
  orbit_state: "Running",
  state_reason: "",
  fixed_ip: "10.128.0.2",
  floating_ip: null,
  floating_ip_status: "NOT_ATTACHED",
  environment: {
    id: 1,
    name: "research-eu",
    org_id: null,
    region: "default",
    features: { green_status: null, network_optimised: false },
  },
  image: { name: "Ubuntu Server 22.04 LTS" },
  iso: null,
  flavor: {
    id: 4,
    name: "n3-H100x1",
    cpu: 28,
    ram: 180,
    disk: 100,
    gpu: "NVIDIA H100 80GB HBM3",
    gpu_count: 1,
    ephemeral: 0,
    features: { network_optimised: false },
    labels: [],
    vgpu_type: null,
    gpu_share_milli: null,
  },
  keypair: { name: "laptop-2026" },
  security_rules: [
    {
      id: 1,
      direction: "ingress",
      ethertype: "IPv4",
      protocol: "tcp",
      port_range_min: 22,
      port_range_max: 22,
      remote_ip_prefix: "0.0.0.0/0",
      status: "active",
      created_at: "2026-12-04T18:50:10.479Z",
    },
  ],
  volume_attachments: [],
  labels: ["team-nlp"],
  run_strategy: null,
  ha_enabled: false,
  callback_url: null,
  contract_id: null,
  enhanced_metrics: { enabled: false },
  features: {},
  locked: false,
  os: "linux",
  port_randomization: false,
  port_randomization_status: "NOT_APPLICABLE",
  requires_public_ip: false,
  host: "sim-h100-1",
  placement: {
    policy: "firstfit/vertical",
    seed: 215546342,
    host: "sim-h100-1",
    total: 67.755,
    scores: [
      { scorer: "os-type", score: 0.5, weight: 32 },
      { scorer: "gpu-packing-order", score: 0.96875, weight: 8 },
      { scorer: "firstfit", score: 0.5, weight: 0.01 },
      { scorer: "gpu-locality", score: 1, weight: 32 },
      { scorer: "allocated-capacity", score: 0, weight: 1 },
      { scorer: "gpu-fragmentation", score: 0.25000000000000006, weight: 16 },
      { scorer: "gpu-resource-balance", score: 0.5, weight: 16 },
    ],
    gpus: [
      { gpu_id: "1", model: "NVIDIA H100 80GB HBM3", mode: "passthrough" },
    ],
  },
  created_at: "2026-12-04T18:50:10.479Z",
};

/** A volume as the API shows it: created, not yet attached (its host is set by its first attach). */
const volume = {
  id: 1,
  name: "datasets",
  environment: { name: "research-eu", region: "default", features: { network_optimised: false, green_status: "NOT_GREEN" } },
  description: "tokenised corpora",
  volume_type: "local",
  size: 200,
  status: "available",
  bootable: false,
  image_id: null,
  os_image: null,
  callback_url: null,
  attachments: [],
  storage_pool: "default-default-local",
  host: null,
  created_at: "2026-12-04T18:50:57.565Z",
  updated_at: "2026-12-04T18:50:57.565Z",
};

/** A bootable volume: a copy of an image. */
const bootVolume = {
  ...volume,
  id: 2,
  name: "ubuntu-boot",
  description: "",
  size: 50,
  bootable: true,
  image_id: 1,
  os_image: "Ubuntu Server 22.04 LTS",
  created_at: "2026-12-04T18:50:57.620Z",
  updated_at: "2026-12-04T18:50:57.620Z",
};

// A disk-only snapshot (the example VM has a GPU: memory snapshots are refused for it).
const snapshot = {
  id: 3,
  name: "before-upgrade",
  description: "kernel 6.1, before the driver upgrade",
  vm_id: 1,
  region_id: 1,
  size: 0,
  size_bytes: 0,
  status: "Ready",
  is_image: false,
  has_floating_ip: false,
  labels: [],
  memory: false,
  quiesce: false,
  parent_id: null,
  current: true,
  error: null,
  created_at: "2026-12-04T21:40:05.000Z",
  updated_at: "2026-12-04T21:40:31.000Z",
};

export const hyperstackExamples: OperationExamples = {
  "GET /v1/api-key": {
    response: {
      status: true,
      message: "Getting API keys success",
      api_keys: [
        {
          id: 1,
          name: "admin (first start)",
          description: "",
          key: "orb_Xq4vN8c2…",
          created_at: "2026-12-04T18:49:47.860Z",
          role: "admin",
        },
      ],
    },
  },
  "DELETE /v1/api-key/{api_key_id}": {
    response: {
      status: true,
      message: "API key deleted",
    },
  },
  "PUT /v1/api-key/{api_key_id}": {
    request: { name: "notebook-2", description: "Jupyter, second laptop" },
    response: {
      status: true,
      message: "API key updated",
      api_key: {
        id: 3,
        name: "notebook-2",
        description: "Jupyter, second laptop",
        key: "orb_Xq4vN8c2…",
        created_at: "2026-12-04T18:50:16.134Z",
        role: "admin",
      },
    },
  },
  "POST /v1/api-key/generate": {
    request: { name: "notebook", description: "Jupyter on my laptop" },
    response: {
      status: true,
      message: "API key generated: store it now, it is not shown again",
      api_key: {
        id: 3,
        name: "notebook",
        description: "Jupyter on my laptop",
        key: "orb_Xq4vN8c2LrT6hW1zKp9sBd3fYj7mGe5a",
        created_at: "2026-12-04T18:50:16.134Z",
        role: "admin",
      },
    },
  },
  "GET /v1/core/affinity-groups": {
    response: {
      status: true,
      message: "Getting affinity groups success",
      count: 1,
      affinity_groups: [
        {
          id: 1,
          uuid: "4a0f8308-8d71-46f4-b52c-41b62798c6fb",
          name: "training-spread",
          type: "host-anti-affinity",
          strict: false,
          description: "one VM per host",
          virtual_machine_ids: [],
          created_at: "2026-12-04T18:50:10.448Z",
        },
      ],
    },
  },
  "POST /v1/core/affinity-groups": {
    request: { name: "training-spread", type: "host-anti-affinity", strict: false, description: "one VM per host" },
    response: {
      status: true,
      message: "Affinity group created",
      affinity_group: {
        id: 1,
        uuid: "4a0f8308-8d71-46f4-b52c-41b62798c6fb",
        name: "training-spread",
        type: "host-anti-affinity",
        strict: false,
        description: "one VM per host",
        virtual_machine_ids: [],
        created_at: "2026-12-04T18:50:10.448Z",
      },
    },
  },
  "DELETE /v1/core/affinity-groups/{id}": {
    response: {
      status: true,
      message: "Affinity group deleted",
    },
  },
  "GET /v1/core/affinity-groups/{id}": {
    response: {
      status: true,
      message: "Getting affinity group success",
      affinity_group: {
        id: 1,
        uuid: "4a0f8308-8d71-46f4-b52c-41b62798c6fb",
        name: "training-spread",
        type: "host-anti-affinity",
        strict: false,
        description: "one VM per host",
        virtual_machine_ids: [],
        created_at: "2026-12-04T18:50:10.448Z",
      },
    },
  },
  "GET /v1/core/callbacks/signing-secret": {
    response: {
      status: true,
      message: "Getting signing secret success",
      signing_secret: {
        secret: "whsec_7Ydq2LmX9pVt4Rk1Wc8Zs3Nb6Hf0Jg5AeQu2Ti9Ko4M",
        created_at: "2026-12-04T18:50:15.885Z",
        rotated_at: null,
        previous_valid_until: null,
      },
    },
  },
  "POST /v1/core/callbacks/signing-secret/rotate": {
    response: {
      status: true,
      message: "Signing secret rotated",
      signing_secret: {
        secret: "whsec_Mz3Kp8Wq1Rv6Ty4Xn9Bc2Lf7Hd0Sg5Ja3Ue8Oi1Ym6Q",
        created_at: "2026-12-04T18:50:15.885Z",
        rotated_at: "2026-12-04T18:50:15.890Z",
        previous_valid_until: "2026-12-05T18:50:15.890Z",
      },
    },
  },
  "GET /v1/core/environments": {
    response: {
      status: true,
      message: "Getting environments success",
      environments: [
        {
          id: 1,
          name: "research",
          region: "default",
          features: { network_optimised: false, green_status: "NOT_GREEN" },
          created_at: "2026-12-04T18:50:10.322Z",
        },
      ],
      count: 1,
      page: 1,
      page_size: 50,
    },
  },
  "POST /v1/core/environments": {
    request: { name: "research", region: "default" },
    response: {
      status: true,
      message: "Environment created",
      environment: {
        id: 1,
        name: "research",
        region: "default",
        features: { network_optimised: false, green_status: "NOT_GREEN" },
        created_at: "2026-12-04T18:50:10.322Z",
      },
    },
  },
  "DELETE /v1/core/environments/{id}": {
    response: {
      status: true,
      message: "Environment deleted",
    },
  },
  "GET /v1/core/environments/{id}": {
    response: {
      status: true,
      message: "Getting environment success",
      environment: {
        id: 1,
        name: "research",
        region: "default",
        features: { network_optimised: false, green_status: "NOT_GREEN" },
        created_at: "2026-12-04T18:50:10.322Z",
      },
    },
  },
  "PUT /v1/core/environments/{id}": {
    request: { name: "research-eu" },
    response: {
      status: true,
      message: "Environment renamed",
      environment: {
        id: 1,
        name: "research-eu",
        region: "default",
        features: { network_optimised: false, green_status: "NOT_GREEN" },
        created_at: "2026-12-04T18:50:10.322Z",
      },
    },
  },
  "GET /v1/core/flavors": {
    response: {
      status: true,
      message: "Getting flavors success",
      data: [
        {
          gpu: "NVIDIA H100 80GB HBM3",
          region_name: "default",
          flavors: [
            {
              id: 4,
              name: "n3-H100x1",
              display_name: "n3-H100x1",
              region_name: "default",
              cpu: 28,
              ram: 180,
              disk: 100,
              ephemeral: 0,
              gpu: "NVIDIA H100 80GB HBM3",
              gpu_count: 1,
              stock_available: true,
              labels: [],
              features: {},
              created_at: "2026-12-04T18:49:47.837Z",
              vgpu_type: null,
              gpu_share_milli: null,
              host_tags: [],
            },
          ],
        },
      ],
    },
  },
  "GET /v1/core/images": {
    response: {
      status: true,
      message: "Getting images success",
      images: [
        {
          region_name: "default",
          type: "linux",
          logo: "",
          images: [
            {
              id: 1,
              name: "Ubuntu Server 22.04 LTS",
              region_name: "default",
              type: "linux",
              version: "22.04",
              size: 0,
              display_size: "0 GB",
              description: "Ubuntu Server 22.04 LTS (Jammy Jellyfish)",
              is_public: true,
              labels: [],
              flavor_restrictions: { has_flavor_restrictions: false, restriction_type: null, compatible_flavors: [] },
              os_type: "linux",
            },
          ],
        },
      ],
    },
  },
  "GET /v1/core/images/{id}": {
    response: {
      status: true,
      message: "Getting image success",
      image: {
        id: 1,
        name: "Ubuntu Server 22.04 LTS",
        region_name: "default",
        type: "linux",
        version: "22.04",
        size: 0,
        display_size: "0 GB",
        description: "Ubuntu Server 22.04 LTS (Jammy Jellyfish)",
        is_public: true,
        labels: [],
        flavor_restrictions: { has_flavor_restrictions: false, restriction_type: null, compatible_flavors: [] },
        os_type: "linux",
      },
    },
  },
  "GET /v1/core/jobs/{id}": {
    response: {
      status: true,
      message: "Getting job success",
      job: {
        id: 1,
        uuid: "8e6eb09a-5399-480e-b469-aa215552af96",
        kind: "vm.deploy",
        status: "running",
        progress: 20,
        attempts: 1,
        vm_id: 1,
        volume_id: null,
        result: null,
        error: null,
        created_at: "2026-12-04T18:50:10.479Z",
        updated_at: "2026-12-04T18:50:10.542Z",
        finished_at: null,
      },
    },
  },
  "DELETE /v1/core/keypair/{id}": {
    response: {
      status: true,
      message: "Key pair deleted",
    },
  },
  "GET /v1/core/keypair/{id}": {
    response: {
      status: true,
      message: "Getting key pair success",
      keypair: {
        id: 1,
        name: "laptop",
        environment: {
          id: 1,
          name: "research-eu",
          region: "default",
          features: { network_optimised: false, green_status: "NOT_GREEN" },
          created_at: "2026-12-04T18:50:10.322Z",
        },
        public_key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEyAVVRji2eR6autU1wmFHcosvRmCcSNdbt8wal5dQLW ada@laptop",
        fingerprint: "e2:18:84:27:ca:6a:f6:08:86:46:6c:d5:00:e3:89:11",
        fingerprint_sha256: "SHA256:9eaCT0qoGOHJONvg9llGztT9ojRKOxJpaz4SfBh8Okk",
        created_at: "2026-12-04T18:50:10.370Z",
      },
    },
  },
  "PUT /v1/core/keypair/{id}": {
    request: { name: "laptop-2026" },
    response: {
      status: true,
      message: "Key pair renamed",
      keypair: {
        id: 1,
        name: "laptop-2026",
        environment: {
          id: 1,
          name: "research-eu",
          region: "default",
          features: { network_optimised: false, green_status: "NOT_GREEN" },
          created_at: "2026-12-04T18:50:10.322Z",
        },
        public_key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEyAVVRji2eR6autU1wmFHcosvRmCcSNdbt8wal5dQLW ada@laptop",
        fingerprint: "e2:18:84:27:ca:6a:f6:08:86:46:6c:d5:00:e3:89:11",
        fingerprint_sha256: "SHA256:9eaCT0qoGOHJONvg9llGztT9ojRKOxJpaz4SfBh8Okk",
        created_at: "2026-12-04T18:50:10.370Z",
      },
    },
  },
  "GET /v1/core/keypairs": {
    response: {
      status: true,
      message: "Getting key pairs success",
      keypairs: [
        {
          id: 1,
          name: "laptop",
          environment: {
            id: 1,
            name: "research-eu",
            region: "default",
            features: { network_optimised: false, green_status: "NOT_GREEN" },
            created_at: "2026-12-04T18:50:10.322Z",
          },
          public_key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEyAVVRji2eR6autU1wmFHcosvRmCcSNdbt8wal5dQLW ada@laptop",
          fingerprint: "e2:18:84:27:ca:6a:f6:08:86:46:6c:d5:00:e3:89:11",
          fingerprint_sha256: "SHA256:9eaCT0qoGOHJONvg9llGztT9ojRKOxJpaz4SfBh8Okk",
          created_at: "2026-12-04T18:50:10.370Z",
        },
      ],
      count: 2,
      page: 1,
      page_size: 50,
    },
  },
  "POST /v1/core/keypairs": {
    request: {
      environment_name: "research-eu",
      name: "laptop",
      public_key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEyAVVRji2eR6autU1wmFHcosvRmCcSNdbt8wal5dQLW ada@laptop",
    },
    response: {
      status: true,
      message: "Key pair imported",
      keypair: {
        id: 1,
        name: "laptop",
        environment: {
          id: 1,
          name: "research-eu",
          region: "default",
          features: { network_optimised: false, green_status: "NOT_GREEN" },
          created_at: "2026-12-04T18:50:10.322Z",
        },
        public_key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEyAVVRji2eR6autU1wmFHcosvRmCcSNdbt8wal5dQLW ada@laptop",
        fingerprint: "e2:18:84:27:ca:6a:f6:08:86:46:6c:d5:00:e3:89:11",
        fingerprint_sha256: "SHA256:9eaCT0qoGOHJONvg9llGztT9ojRKOxJpaz4SfBh8Okk",
        created_at: "2026-12-04T18:50:10.370Z",
      },
    },
  },
  "POST /v1/core/keypairs/generate": {
    request: { environment_name: "research-eu", name: "ci-runner", key_type: "ed25519" },
    response: {
      status: true,
      message: "Key pair generated: save the private key, it is not shown again",
      keypair: {
        id: 2,
        name: "ci-runner",
        environment: {
          id: 1,
          name: "research-eu",
          region: "default",
          features: { network_optimised: false, green_status: "NOT_GREEN" },
          created_at: "2026-12-04T18:50:10.322Z",
        },
        public_key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMiGzHqhMp5HOBD/7V3PR6JV4GYE4vFnnNiEPg2xLzGE ci-runner",
        fingerprint: "43:dc:15:19:61:5b:11:b1:6b:87:ec:97:c1:58:dc:cd",
        fingerprint_sha256: "SHA256:LXq8IVWOW/lcWHthGPEu9kTZf8VzNodjFiNpKunaVGA",
        created_at: "2026-12-04T18:50:10.415Z",
        private_key: "-----BEGIN OPENSSH PRIVATE KEY-----\n(the private key, shown in this answer only)\n-----END OPENSSH PRIVATE KEY-----\n",
      },
    },
  },
  "GET /v1/core/regions": {
    response: {
      status: true,
      message: "Getting regions success",
      regions: [
        { id: 1, name: "default", description: "", country: "", green_status: "NOT_GREEN", features: {} },
      ],
    },
  },
  "GET /v1/core/virtual-machines": {
    response: {
      status: true,
      message: "Getting instances success",
      count: 1,
      page: 1,
      page_size: 50,
      instances: [instance],
    },
  },
  "POST /v1/core/virtual-machines": {
    request: {
      name: "llm-finetune",
      environment_name: "research-eu",
      flavor_name: "n3-H100x1",
      image_name: "Ubuntu Server 22.04 LTS",
      key_name: "laptop-2026",
      count: 1,
      labels: ["team-nlp"],
      security_rules: [
        { direction: "ingress", ethertype: "IPv4", protocol: "tcp", remote_ip_prefix: "0.0.0.0/0", port_range_min: 22, port_range_max: 22 },
      ],
    },
    response: {
      status: true,
      message: "1 virtual machine(s) are being created",
      instances: [{ ...instance, status: "CREATING", power_state: "NOSTATE", vm_state: "building", orbit_state: "Creating" }],
      job_id: 1,
      job_ids: [1],
    },
  },
  "DELETE /v1/core/virtual-machines/{id}": {
    response: {
      status: true,
      message: "Virtual machine deletion initiated",
      job_id: 16,
      instance: {
        ...instance,
        name: "llm-finetune-7b",
        status: "DELETING",
        power_state: "NOSTATE",
        vm_state: "deleted",
        orbit_state: "Destroying",
        labels: ["team-nlp", "priority-high"],
        // Deleted with ?recurse=all_drives, this volume goes with the VM (without it, it stays, available).
        volume_attachments: [
          {
            id: 2,
            device: "/dev/vdb",
            status: "attached",
            protected: false,
            created_at: "2026-12-04T18:50:58.245Z",
            volume: { id: 1, name: "datasets", size: 200, description: "tokenised corpora", bootable: false, volume_type: "local" },
          },
        ],
      },
    },
  },
  "GET /v1/core/virtual-machines/{id}": {
    response: {
      status: true,
      message: "Getting instance success",
      instance: instance,
    },
  },
  "POST /v1/core/virtual-machines/{id}/attach-callback": {
    request: { url: "https://hooks.example.com/orbit" },
    response: {
      status: true,
      message: "Callback URL attached",
      url: "https://hooks.example.com/orbit",
    },
  },
  "GET /v1/core/virtual-machines/{id}/callback-deliveries": {
    response: {
      status: true,
      message: "Getting callback deliveries success",
      deliveries: [
        {
          id: 7,
          event_id: "transition:2",
          event_type: "state_changed",
          url: "https://hooks.example.com/orbit/v2",
          status: "delivered",
          attempts: [
            {
              attempt: 1,
              url: "https://hooks.example.com/orbit/v2",
              started_at: "2026-12-04T18:50:12.010Z",
              duration_ms: 10003,
              status_code: null,
              error: "no answer within 10000 ms",
            },
          ],
          next_attempt_at: null,
          created_at: "2026-12-04T18:50:11.602Z",
          finished_at: "2026-12-04T18:50:24.244Z",
        },
      ],
    },
  },
  "DELETE /v1/core/virtual-machines/{id}/delete-callback": {
    response: {
      status: true,
      message: "Callback URL deleted",
    },
  },
  "POST /v1/core/volumes/{volume_id}/attach-callback": {
    request: { url: "https://hooks.example.com/orbit/volumes" },
    response: {
      status: true,
      message: "Callback URL attached",
      url: "https://hooks.example.com/orbit/volumes",
    },
  },
  "PUT /v1/core/volumes/{volume_id}/update-callback": {
    request: { url: "https://hooks.example.com/orbit/volumes/v2" },
    response: {
      status: true,
      message: "Callback URL updated",
      url: "https://hooks.example.com/orbit/volumes/v2",
    },
  },
  "DELETE /v1/core/volumes/{volume_id}/delete-callback": {
    response: {
      status: true,
      message: "Callback URL deleted",
    },
  },
  "GET /v1/core/volumes/{volume_id}/callback-deliveries": {
    response: {
      status: true,
      message: "Getting callback deliveries success",
      deliveries: [
        {
          id: 12,
          event_id: "volume:3:status:5b0c2f9e-4f8e-4b7e-9a51-0d6c1f7e2a10",
          event_type: "state_changed",
          url: "https://hooks.example.com/orbit/volumes",
          status: "delivered",
          attempts: [
            {
              attempt: 1,
              url: "https://hooks.example.com/orbit/volumes",
              started_at: "2026-12-05T00:17:58.120Z",
              duration_ms: 14,
              status_code: 200,
              error: null,
            },
          ],
          next_attempt_at: null,
          created_at: "2026-12-05T00:17:58.101Z",
          finished_at: "2026-12-05T00:17:58.134Z",
        },
      ],
    },
  },
  "GET /v1/core/virtual-machines/{id}/events": {
    response: {
      status: true,
      message: "Getting virtual machine events success",
      instance_events: [
        {
          instance_id: 1,
          org_id: 1,
          user_id: null,
          type: "created",
          object: "virtual_machine",
          message: "Virtual machine created",
          reason: "",
          time: "2026-12-04T18:50:10.479Z",
          event_id: "vm:1:created",
          from_state: null,
          to_state: null,
          action: null,
          job_id: null,
        },
        {
          instance_id: 1,
          org_id: 1,
          user_id: null,
          type: "action_requested",
          object: "virtual_machine",
          message: "Action deploy requested",
          reason: "job 1",
          time: "2026-12-04T18:50:10.479Z",
          event_id: "job:1:requested",
          from_state: null,
          to_state: null,
          action: "deploy",
          job_id: 1,
        },
        {
          instance_id: 1,
          org_id: 1,
          user_id: null,
          type: "state_changed",
          object: "virtual_machine",
          message: "State changed from Creating to Starting",
          reason: "job 1: deploy",
          time: "2026-12-04T18:50:10.537Z",
          event_id: "transition:1",
          from_state: "Creating",
          to_state: "Starting",
          action: null,
          job_id: null,
        },
        {
          instance_id: 1,
          org_id: 1,
          user_id: null,
          type: "state_changed",
          object: "virtual_machine",
          message: "State changed from Starting to Running",
          reason: "agent reported the domain running",
          time: "2026-12-04T18:50:10.835Z",
          event_id: "transition:2",
          from_state: "Starting",
          to_state: "Running",
          action: null,
          job_id: null,
        },
        {
          instance_id: 1,
          org_id: 1,
          user_id: null,
          type: "action_succeeded",
          object: "virtual_machine",
          message: "Action deploy succeeded",
          reason: "job 1",
          time: "2026-12-04T18:50:10.841Z",
          event_id: "job:1:succeeded",
          from_state: null,
          to_state: null,
          action: "deploy",
          job_id: 1,
        },
      ],
    },
  },
  "GET /v1/core/virtual-machines/{id}/hard-reboot": {
    response: {
      status: true,
      message: "Virtual machine is being reset",
      job_id: 7,
      instance_status: "ACTIVE",
    },
  },
  "POST /v1/core/virtual-machines/{id}/hard-reboot": {
    response: {
      status: true,
      message: "Virtual machine is being reset",
      job_id: 6,
      instance_status: "ACTIVE",
    },
  },
  "GET /v1/core/virtual-machines/{id}/hibernate": {
    response: {
      status: true,
      message: "Virtual machine is hibernating",
      job_id: 11,
      instance_status: "HIBERNATING",
    },
  },
  "POST /v1/core/virtual-machines/{id}/hibernate": {
    response: {
      status: true,
      message: "Virtual machine is hibernating",
      job_id: 9,
      instance_status: "HIBERNATING",
    },
  },
  "GET /v1/core/virtual-machines/{id}/hibernate-restore": {
    response: {
      status: true,
      message: "Virtual machine is being restored from hibernation",
      job_id: 12,
      instance_status: "STARTING",
    },
  },
  "POST /v1/core/virtual-machines/{id}/hibernate-restore": {
    response: {
      status: true,
      message: "Virtual machine is being restored from hibernation",
      job_id: 10,
      instance_status: "STARTING",
    },
  },
  "PUT /v1/core/virtual-machines/{id}/label": {
    request: { labels: ["team-nlp", "priority-high"] },
    response: {
      status: true,
      message: "Virtual machine labels updated",
    },
  },
  "GET /v1/core/virtual-machines/{id}/logs": {
    response: {
      status: true,
      message: "Getting virtual machine logs success",
      logs: "[    0.000000] Linux version 6.1.0-orbit-sim (simulated kernel)\r\n[    0.000000] Command line: console=ttyS0 root=/dev/vda1\r\n[    0.010000] Memory: 188743680K available\r\n[    0.020000] smpboot: Allowing 28 CPUs\r\n[    1.200000] EXT4-fs (vda1): mounted filesystem with ordered data mode\r\n[    2.400000] cloud-init[312]: Cloud-init v. 23.1 running 'init' (simulated)\r\n[    3.100000] cloud-init[312]: hostname set to llm-finetune-7b\r\n[    4.000000] cloud-init[540]: Cloud-init v. 23.1 finished (simulated)\r\n\r\nllm-finetune-7b login: \r\n",
      request_status: "succeeded",
      truncated: true,
    },
  },
  "POST /v1/core/virtual-machines/{id}/logs": {
    request: { length: 50 },
    response: {
      status: true,
      message: "Virtual machine logs requested",
      request_id: 1,
    },
  },
  "GET /v1/core/virtual-machines/{id}/metrics": {
    response: {
      status: true,
      message: "Getting virtual machine metrics success",
      cpu: {
        columns: ["time", "granularity", "value"],
        data: [
          ["2026-12-04 18:40:00+00:00", 300, 37.5],
          ["2026-12-04 18:45:00+00:00", 300, 92.1],
          ["2026-12-04 18:50:00+00:00", 300, 95.4],
        ],
        unit: "%",
      },
      "memory.usages": {
        columns: ["time", "granularity", "value"],
        data: [
          ["2026-12-04 18:40:00+00:00", 300, 41875931136],
          ["2026-12-04 18:45:00+00:00", 300, 120259084288],
          ["2026-12-04 18:50:00+00:00", 300, 121332826112],
        ],
        unit: "B",
      },
      "disk.read": {
        columns: ["time", "granularity", "value"],
        data: [
          ["2026-12-04 18:40:00+00:00", 300, 1048576],
          ["2026-12-04 18:45:00+00:00", 300, 52428800],
          ["2026-12-04 18:50:00+00:00", 300, 2097152],
        ],
        unit: "B/s",
      },
      "disk.write": {
        columns: ["time", "granularity", "value"],
        data: [
          ["2026-12-04 18:40:00+00:00", 300, 524288],
          ["2026-12-04 18:45:00+00:00", 300, 8388608],
          ["2026-12-04 18:50:00+00:00", 300, 4194304],
        ],
        unit: "B/s",
      },
      "network.in": {
        columns: ["time", "granularity", "value"],
        data: [
          ["2026-12-04 18:40:00+00:00", 300, 131072],
          ["2026-12-04 18:45:00+00:00", 300, 26214400],
          ["2026-12-04 18:50:00+00:00", 300, 1048576],
        ],
        unit: "B/s",
      },
      "network.out": {
        columns: ["time", "granularity", "value"],
        data: [
          ["2026-12-04 18:40:00+00:00", 300, 65536],
          ["2026-12-04 18:45:00+00:00", 300, 524288],
          ["2026-12-04 18:50:00+00:00", 300, 262144],
        ],
        unit: "B/s",
      },
    },
  },
  "PUT /v1/core/virtual-machines/{id}/name": {
    request: { name: "llm-finetune-7b" },
    response: {
      status: true,
      message: "Virtual machine renamed",
    },
  },
  "POST /v1/core/virtual-machines/{id}/reboot": {
    response: {
      status: true,
      message: "Virtual machine is rebooting",
      job_id: 8,
      instance_status: "ACTIVE",
    },
  },
  "POST /v1/core/virtual-machines/{id}/resize": {
    request: { flavor_name: "n1-cpu-medium" },
    // A running VM, resized live (enable.dynamic.scale.vm); a stopped one's answer has no job_id.
    response: {
      status: true,
      message: "Virtual machine is being resized to n1-cpu-medium while it runs",
      job_id: 21,
    },
  },
  "POST /v1/core/virtual-machines/{id}/shutdown": {
    response: {
      status: true,
      message: "Virtual machine is shutting down",
      job_id: 13,
      instance_status: "SHUTTING_DOWN",
    },
  },
  "GET /v1/core/virtual-machines/{id}/start": {
    response: {
      status: true,
      message: "Virtual machine is starting",
      job_id: 3,
      instance_status: "STARTING",
    },
  },
  "POST /v1/core/virtual-machines/{id}/start": {
    response: {
      status: true,
      message: "Virtual machine is starting",
      job_id: 15,
      instance_status: "STARTING",
    },
  },
  "GET /v1/core/virtual-machines/{id}/stop": {
    response: {
      status: true,
      message: "Virtual machine is stopping",
      job_id: 4,
      instance_status: "SHUTTING_DOWN",
    },
  },
  "POST /v1/core/virtual-machines/{id}/stop": {
    response: {
      status: true,
      message: "Virtual machine is stopping",
      job_id: 2,
      instance_status: "SHUTTING_DOWN",
    },
  },
  "PUT /v1/core/virtual-machines/{id}/update-callback": {
    request: { url: "https://hooks.example.com/orbit/v2" },
    response: {
      status: true,
      message: "Callback URL updated",
      url: "https://hooks.example.com/orbit/v2",
    },
  },
  "GET /v1/auth/me": {
    response: {
      status: true,
      message: "Getting user info success",
      user: {
        id: 1,
        name: "admin",
        username: "admin",
        email: "",
        created_at: "2026-12-04T18:49:47.846Z",
        role: "admin",
        account: { id: 1, name: "admin" },
      },
    },
  },
  "GET /v1/core/environments/name-availability/{name}": {
    response: {
      status: true,
      message: "Your account already has an environment named \"research-eu\"",
      name: "research-eu",
      available: false,
    },
  },
  "GET /v1/core/environments/{id}/vm-quota": {
    response: {
      status: true,
      message: "Environment \"research-eu\" takes 435 more VM(s)",
      current_vms: 0,
      max_vms: 435,
      available_vms: 435,
      percentage_used: 0,
      cidr: "",
      flavors: [
        { id: 1, name: "n1-cpu-small", available_vms: 217 },
        { id: 2, name: "n1-cpu-medium", available_vms: 108 },
        { id: 4, name: "n3-H100x1", available_vms: 8 },
        { id: 7, name: "n3-H100x8", available_vms: 1 },
        { id: 8, name: "n3-L40Sx1", available_vms: 4 },
        { id: 9, name: "n3-L40S-12Q", available_vms: 4 },
      ],
    },
  },
  "GET /v1/core/virtual-machines/name-availability/{name}": {
    response: {
      status: true,
      message: "Name is taken by your virtual machine(s) \"llm-finetune\"",
      name: "llm-finetune",
      available: false,
    },
  },
  "POST /v1/core/virtual-machines/{id}/open-console": {
    response: {
      status: true, message: "Console URL for virtual machine 12: usable once, until it expires",
      console: { url: "ws://127.0.0.1:8080/v1/console/<one-time-token>", expires_at: "2026-12-04T19:43:12.000Z" },
    },
  },
  "POST /v1/core/virtual-machines/{id}/close-console": {
    response: { status: true, message: "Closed 1 console connection(s) of virtual machine 12", closed_sessions: 1 },
  },
  "POST /v1/core/virtual-machines/{id}/clone": {
    request: { name: "llm-finetune-copy", start: false },
    response: {
      status: true,
      message: "Virtual machine is being cloned",
      instance: {
        ...instance,
        id: 2,
        uuid: "6221152e-9976-4afa-8f99-131f7b2aa402",
        name: "llm-finetune-copy",
        status: "CREATING",
        power_state: "NOSTATE",
        vm_state: "building",
        orbit_state: "Creating",
        fixed_ip: "10.128.0.3",
        security_rules: [],
        placement: {
          ...instance.placement,
          seed: 486989633,
          total: 75.85367576979472,
          scores: [
            { scorer: "os-type", score: 0.5, weight: 32 },
            { scorer: "gpu-packing-order", score: 0.96875, weight: 8 },
            { scorer: "firstfit", score: 0.5, weight: 0.01 },
            { scorer: "gpu-locality", score: 1, weight: 32 },
            { scorer: "allocated-capacity", score: 0.09867576979472141, weight: 1 },
            { scorer: "gpu-fragmentation", score: 0.75, weight: 16 },
            { scorer: "gpu-resource-balance", score: 0.5, weight: 16 },
          ],
          gpus: [{ gpu_id: "2", model: "NVIDIA H100 80GB HBM3", mode: "passthrough" }],
        },
        created_at: "2026-12-04T18:51:35.068Z",
      },
      job_id: 11,
    },
  },
  "POST /v1/core/virtual-machines/{id}/restore": {
    request: { image_name: "Ubuntu Server 22.04 LTS" },
    response: {
      status: true,
      message: "Virtual machine is being reinstalled",
      job_id: 7,
      instance_status: "REBUILDING",
      image_name: "Ubuntu Server 22.04 LTS",
    },
  },
  "POST /v1/core/virtual-machines/{id}/reset-ssh-key": {
    request: { key_name: "ci-runner" },
    response: {
      status: true,
      message: "Virtual machine SSH key reset: it is installed at the next start",
      job_id: 10,
      key_name: "ci-runner",
    },
  },
  "POST /v1/core/virtual-machines/{id}/snapshots": {
    request: { name: "before-upgrade", description: "kernel 6.1, before the driver upgrade", memory: false },
    response: { status: true, message: "Snapshot is being created", snapshot: { ...snapshot, status: "Creating", size: 0, size_bytes: null, current: false, updated_at: snapshot.created_at }, job_id: 42 },
  },
  "GET /v1/core/virtual-machines/{id}/snapshots": {
    response: { status: true, message: "Getting snapshots success", snapshots: [snapshot], count: 1, page: 1, page_size: 50 },
  },
  "GET /v1/core/snapshots": {
    response: { status: true, message: "Getting snapshots success", snapshots: [snapshot], count: 1, page: 1, page_size: 50 },
  },
  "GET /v1/core/snapshots/name-availability/{name}": {
    response: { status: true, message: "Name is available", name: "after-upgrade", available: true },
  },
  "GET /v1/core/snapshots/{id}": {
    response: {
      status: true, message: "Getting snapshot success",
      snapshot: {
        ...snapshot, labels: "", region: "default", vm_name: "llm-finetune", vm_status: "ACTIVE", vm_flavor: "n3-H100x1", vm_image: "Ubuntu Server 22.04 LTS",
        vm_keypair: "my-laptop", vm_environment: "research-eu", custom_image: null, volume_id: null, volume_name: null,
      },
    },
  },
  "DELETE /v1/core/snapshots/{id}": {
    response: { status: true, message: "Snapshot is being deleted", snapshot: { ...snapshot, status: "Deleting" }, job_id: 44 },
  },
  "POST /v1/core/snapshots/{id}/revert": {
    response: { status: true, message: "Virtual machine is being reverted to the snapshot", snapshot: { ...snapshot, status: "Reverting" }, job_id: 43 },
  },
  "POST /v1/core/virtual-machines/{id}/attach-iso": {
    request: { image_id: 12 },
    response: { status: true, message: "ISO attached: the VM's cdrom holds it from its next start", iso: { id: 12, name: "Debian 12 netinst" } },
  },
  "POST /v1/core/virtual-machines/{id}/detach-iso": {
    response: { status: true, message: "ISO detached", iso: { id: 12, name: "Debian 12 netinst" } },
  },
  "POST /v1/core/virtual-machines/{id}/attach-floatingip": {
    response: {
      status: true,
      message: "Public IP attached to the virtual machine",
      floating_ip: "203.0.113.1",
    },
  },
  "POST /v1/core/virtual-machines/{id}/detach-floatingip": {
    response: {
      status: true,
      message: "Public IP detached from the virtual machine",
      floating_ip: "203.0.113.1",
    },
  },
  "GET /v1/core/sg-rules-protocols": {
    response: {
      status: true,
      message: "Getting protocols success",
      protocols: [
        "any", "ah", "dccp", "egp", "esp", "gre", "hopopt", "icmp", "igmp", "ip", "ipip", "ipv6-encap", "ipv6-frag",
        "ipv6-icmp", "icmpv6", "ipv6-nonxt", "ipv6-opts", "ipv6-route", "ospf", "pgm", "rsvp", "sctp", "tcp", "udp",
        "udplite", "vrrp",
      ],
    },
  },
  "POST /v1/core/virtual-machines/{id}/sg-rules": {
    request: {
      direction: "ingress",
      ethertype: "IPv4",
      protocol: "tcp",
      remote_ip_prefix: "198.51.100.0/24",
      port_range_min: 8888,
      port_range_max: 8888,
    },
    response: {
      status: true,
      message: "Security rule added",
      security_rule: {
        id: 2,
        direction: "ingress",
        ethertype: "IPv4",
        protocol: "tcp",
        port_range_min: 8888,
        port_range_max: 8888,
        remote_ip_prefix: "198.51.100.0/24",
        status: "active",
        created_at: "2026-12-04T18:50:57.509Z",
      },
    },
  },
  "DELETE /v1/core/virtual-machines/{id}/sg-rules/{sg_rule_id}": {
    response: {
      status: true,
      message: "Security rule deleted",
    },
  },
  "GET /v1/core/volume-types": {
    response: {
      status: true,
      message: "Getting volume types success",
      volume_types: ["local", "shared"],
    },
  },
  "GET /v1/core/volumes": {
    response: {
      status: true,
      message: "Getting volumes success",
      volumes: [volume, bootVolume],
      count: 2,
      page: 1,
      page_size: 50,
    },
  },
  "POST /v1/core/volumes": {
    request: { name: "datasets", environment_name: "research-eu", size: 200, volume_type: "local", description: "tokenised corpora" },
    response: {
      status: true,
      message: "Volume created",
      volume,
    },
  },
  "GET /v1/core/volumes/{volume_id}": {
    response: {
      status: true,
      message: "Getting volume success",
      volume: {
        ...volume,
        status: "in-use",
        attachments: [{ id: 1, instance_id: 1, device: "/dev/vdb", status: "attached", protected: false }],
        host: "sim-h100-1",
        updated_at: "2026-12-04T18:51:03.082Z",
      },
    },
  },
  "GET /v1/core/volume/name-availability/{name}": {
    response: {
      status: true,
      message: "Your account already has a volume named \"datasets\"",
      name: "datasets",
      available: false,
    },
  },
  "PATCH /v1/core/volumes/{volume_id}": {
    request: { environment_name: "research-eu-2" },
    response: {
      status: true,
      message: "Volume updated",
      volume: {
        ...volume,
        environment: { ...volume.environment, name: "research-eu-2" },
        updated_at: "2026-12-04T18:52:40.113Z",
      },
      updates: { environment_name: "research-eu-2" },
    },
  },
  "DELETE /v1/core/volumes/{volume_id}": {
    response: {
      status: true,
      message: "Volume deleted",
    },
  },
  "POST /v1/core/virtual-machines/{id}/attach-volumes": {
    request: { volume_ids: [1] },
    response: {
      status: true,
      message: "Attaching volumes",
      volume_attachments: [
        { id: 1, volume_id: 1, instance_id: 1, device: "", status: "attaching", protected: false, created_at: "2026-12-04T18:51:02.984Z", job_id: 5 },
      ],
    },
  },
  "POST /v1/core/virtual-machines/{id}/detach-volumes": {
    request: { volume_ids: [1] },
    response: {
      status: true,
      message: "Detaching volumes",
      volume_attachments: [
        { id: 1, volume_id: 1, instance_id: 1, device: "/dev/vdb", status: "detaching", protected: false, created_at: "2026-12-04T18:51:02.984Z", job_id: 6 },
      ],
    },
  },
  "PATCH /v1/core/volume-attachments/{volume_attachment_id}": {
    request: { protected: true },
    response: {
      status: true,
      message: "Volume attachment updated",
      volume_attachments: [
        { id: 1, volume_id: 1, instance_id: 1, device: "/dev/vdb", status: "attached", protected: true, created_at: "2026-12-04T18:51:02.984Z" },
      ],
    },
  },
};
