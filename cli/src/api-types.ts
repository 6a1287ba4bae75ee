// The fields of API answers the CLI reads, all optional where Orbit's and Hyperstack's answers may
// differ: the CLI prints what is there and never fails on a field it does not know.

export interface Named {
  name?: string | null;
}

export interface Flavor {
  id?: number;
  name?: string;
  cpu?: number;
  ram?: number;
  disk?: number;
  gpu?: string | null;
  gpu_count?: number;
  vgpu_type?: string | null;
  region_name?: string;
  stock_available?: boolean;
}

export interface Instance {
  id: number;
  uuid?: string;
  name: string;
  status?: string;
  power_state?: string;
  vm_state?: string;
  state_reason?: string;
  fixed_ip?: string | null;
  floating_ip?: string | null;
  flavor?: Flavor;
  image?: Named;
  environment?: Named;
  keypair?: Named;
  labels?: string[];
  host?: string | null;
  created_at?: string;
}

export interface Image {
  id?: number;
  name?: string;
  type?: string;
  os_type?: string;
  version?: string;
  size?: number;
  region_name?: string;
}

export interface Keypair {
  id: number;
  name: string;
  environment?: Named;
  fingerprint?: string;
  created_at?: string;
}

export interface Region {
  id: number;
  name: string;
  description?: string;
}

export interface Environment {
  id: number;
  name: string;
  region?: string;
  created_at?: string;
}

export interface Host {
  id: number;
  name: string;
  state?: string;
  resource_state?: string;
  environment?: string;
  cluster?: string;
  capacity?: { cpus?: number; memory_mib?: number };
  allocated?: { vcpus?: number; memory_mib?: number; vms?: number };
  gpus?: { model?: string }[];
  last_heartbeat_at?: string | null;
}

export interface User {
  id: number;
  account_id?: number;
  name: string;
  email?: string | null;
  role?: string;
  disabled?: boolean;
  created_at?: string;
}

export interface Setting {
  name: string;
  /** "number", "string" or "boolean". */
  type?: string;
  value: unknown;
  default?: unknown;
  is_default?: boolean;
  description?: string;
  min?: number;
  max?: number;
}

export interface ImageDownloadProgress {
  bytes: number;
  total_bytes: number | null;
  percent: number | null;
  rate_bytes_per_s: number;
}

/** An image as /v1/admin/images answers it (every status). */
export interface AdminImage {
  id: number;
  name: string;
  status: string;
  /** "" for every region. */
  region_name?: string;
  is_public?: boolean;
  account_id?: number | null;
  os_type?: string;
  format?: string;
  size_bytes?: number | null;
  download_progress?: ImageDownloadProgress | null;
  error?: string;
  job_id?: number | null;
  source_url?: string;
  checksum?: string;
  created_at?: string;
}

export interface VolumeAttachment {
  id: number;
  instance_id?: number;
  volume_id?: number;
  device?: string;
  status?: string;
  protected?: boolean;
  /** Orbit's: the job attaching or detaching. */
  job_id?: number;
}

export interface Volume {
  id: number;
  name: string;
  environment?: Named & { region?: string };
  description?: string;
  volume_type?: string;
  size?: number;
  status?: string;
  bootable?: boolean;
  os_image?: string | null;
  attachments?: VolumeAttachment[];
  created_at?: string;
}

export interface Snapshot {
  id: number;
  name: string;
  description?: string;
  vm_id?: number;
  status?: string;
  memory?: boolean;
  quiesce?: boolean;
  parent_id?: number | null;
  current?: boolean;
  size_bytes?: number | null;
  error?: string | null;
  created_at?: string;
}

/** One VM's part in a host's maintenance. */
export interface MaintenanceVm {
  vm_id: number;
  status: string;
  reason?: string;
  error?: string;
  destination_host_id?: number;
  mode?: string;
  progress?: number;
}

/** GET /v1/admin/hosts/{id}/maintenance. */
export interface HostMaintenance {
  host_id: number;
  resource_state: string;
  started_at?: string;
  allow_cold_migration?: boolean;
  job_id?: number | null;
  vms_total?: number;
  vms_moved?: number;
  vms_remaining?: number;
  vms?: MaintenanceVm[];
}
