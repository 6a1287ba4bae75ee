// The simulator's stand-in for the network between libvirt hosts: simulators that share one of
// these (in one process) can live-migrate domains to each other, each reachable under the URI it
// registered (as a libvirt host is under qemu+tcp://HOST/system).
import type { SimulatorHypervisor } from "./simulator-hypervisor.js";

export class SimulatedMigrationNetwork {
  private readonly hosts = new Map<string, SimulatorHypervisor>();

  /** Makes a simulator reachable under `uri`; returns the unregister function (a host that goes away). */
  register(uri: string, host: SimulatorHypervisor): () => void {
    this.hosts.set(uri, host);
    return () => {
      if (this.hosts.get(uri) === host) this.hosts.delete(uri);
    };
  }

  /** The simulator reachable under `uri`, if any. */
  resolve(uri: string): SimulatorHypervisor | undefined {
    return this.hosts.get(uri);
  }
}
