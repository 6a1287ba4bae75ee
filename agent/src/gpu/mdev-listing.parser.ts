// Parsers for text listings of mdev (mediated device) types, as admins and docs print them. Pure.
//  - the kata-containers loop table: "| BDF | INSTANCES | NAME | DIR |" rows, one per type;
//  - `ls /sys/class/mdev_bus/*/mdev_supported_types`: type directory names per parent device.
import { GpuParseError } from "./gpu-parse-error.js";
import { normalizePciAddress } from "./pci-address.js";

export interface ListedMdevType {
  /** The mdev parent (a GPU, or one of its SR-IOV virtual functions). */
  parentPci: string;
  /** mdev type directory, e.g. "nvidia-692". */
  typeId: string;
  name: string;
  availableInstances: number;
}

/** The table printed by a loop over `mdev_supported_types/<type>/{available_instances,name}`. */
export function parseMdevTypeTable(text: string): ListedMdevType[] {
  const out: ListedMdevType[] = [];
  let columns: string[] | undefined;
  for (const line of text.split(/\r?\n/)) {
    if (!line.trim().startsWith("|")) continue;
    const cells = line.trim().replace(/^\||\|$/g, "").split("|").map((c) => c.trim());
    if (cells.includes("BDF")) {
      columns = cells.map((c) => c.toUpperCase());
      continue;
    }
    if (!columns) throw new GpuParseError("mdev type table", "row before any header row");
    const get = (name: string) => cells[columns!.indexOf(name)];
    const bdf = get("BDF") ?? "";
    const instances = Number(get("INSTANCES"));
    const typeId = get("DIR") ?? get("TYPE");
    if (!typeId || !Number.isInteger(instances)) {
      throw new GpuParseError("mdev type table", `unreadable row: ${line.trim()}`);
    }
    out.push({
      parentPci: normalizePciAddress(bdf) ?? bdf,
      typeId,
      name: get("NAME") ?? "",
      availableInstances: instances,
    });
  }
  return out;
}

export interface ListedMdevParent {
  parentPci: string;
  typeIds: string[];
}

/** `ls /sys/class/mdev_bus/*\/mdev_supported_types`: a "<path>:" line, then the type names. */
export function parseMdevSupportedTypesListing(text: string): ListedMdevParent[] {
  const out: ListedMdevParent[] = [];
  let current: ListedMdevParent | undefined;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === "" || line.startsWith("$") || line.startsWith("#")) continue;
    const heading = /\/([^/\s]+)\/mdev_supported_types\/?:$/.exec(line);
    if (heading) {
      current = { parentPci: normalizePciAddress(heading[1]!) ?? heading[1]!, typeIds: [] };
      out.push(current);
      continue;
    }
    if (!current) throw new GpuParseError("mdev_supported_types listing", `type names before a parent: ${line}`);
    current.typeIds.push(...line.split(/\s+/));
  }
  return out;
}
