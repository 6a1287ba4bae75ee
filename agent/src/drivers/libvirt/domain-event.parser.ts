// PURE: one line of `virsh event --all --loop --timestamp` -> a parsed event.
//   2026-11-23 14:22:45.559+0000: event 'lifecycle' for domain 'ex1': Started Booted
//   2026-11-23 14:22:52.772+0000: event 'lifecycle' for domain 'ex1': Shutdown Finished after guest request

export interface VirshEventLine {
  atMs: number;
  /** "lifecycle", "reboot", "device-removed", "balloon-change"... */
  type: string;
  domain: string;
  /** For lifecycle: the event in lower case ("started", "stopped", "suspended"...). */
  event: string;
  /** For lifecycle: libvirt's detail in lower case ("booted", "shutdown", "saved"...). */
  detail: string;
  /** Whatever followed the domain name, verbatim. */
  text: string;
}

const LINE = /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d(?:\.\d+)?)([+-]\d{2})(\d{2}): event '([^']+)' for domain '(.*)'(?:: (.*))?$/;

export function parseEventLine(line: string): VirshEventLine | undefined {
  const m = LINE.exec(line.trim());
  if (!m) return undefined;
  const atMs = Date.parse(`${m[1]}T${m[2]}${m[3]}:${m[4]}`);
  const type = m[5]!;
  const text = m[7] ?? "";
  let event = "";
  let detail = "";
  if (type === "lifecycle") {
    const sp = text.indexOf(" ");
    event = (sp < 0 ? text : text.slice(0, sp)).toLowerCase();
    detail = sp < 0 ? "" : text.slice(sp + 1).toLowerCase();
  } else {
    event = type;
    detail = text;
  }
  return { atMs: Number.isFinite(atMs) ? atMs : Date.now(), type, domain: m[6]!, event, detail, text };
}
