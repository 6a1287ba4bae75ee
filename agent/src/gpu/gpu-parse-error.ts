// Raised by the pure parsers when a tool printed something they cannot read; the inventory turns
// it into a discovery warning instead of failing the host's registration.
import { OrbitError } from "#shared/errors.js";

export class GpuParseError extends OrbitError {
  /** The command or file the text came from, e.g. "nvidia-smi -q -x". */
  readonly source: string;
  constructor(source: string, message: string, cause?: unknown) {
    super("internal", `${source}: ${message}`, { details: { source }, cause });
    this.source = source;
  }
}
