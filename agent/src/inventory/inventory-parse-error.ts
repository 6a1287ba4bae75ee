// Raised by the host inventory parsers when virsh or /proc printed something they cannot read.
import { OrbitError } from "#shared/errors.js";

export class InventoryParseError extends OrbitError {
  /** The command or file the text came from, e.g. "virsh nodeinfo". */
  readonly source: string;
  constructor(source: string, message: string, cause?: unknown) {
    super("internal", `${source}: ${message}`, { details: { source }, cause });
    this.source = source;
  }
}
