// Test helper: reads captured outputs in ./testdata (virsh against libvirt's test driver and a
// sandboxed real libvirtd, /proc files of a development machine).
import { readFileSync } from "node:fs";

export function readInventoryTestdata(name: string): string {
  return readFileSync(new URL(`./testdata/${name}`, import.meta.url), "utf8");
}
