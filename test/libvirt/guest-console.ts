// Reading what the test guest (build-test-guest.sh) printed on its serial console.

/**
 * The guest's latest `TAG name=value ...` report (GUEST-DISKS, GUEST-NETS, GUEST-SIZE) as a map, or undefined
 * before the first one. The console's lines end in CRLF and may be interleaved with the kernel's.
 */
export function lastGuestReport(serialLog: string, tag: "GUEST-DISKS" | "GUEST-NETS" | "GUEST-SIZE"): Map<string, string> | undefined {
  // Complete lines only: the log is read while the guest writes it, so its last line may be half there.
  const complete = serialLog.slice(0, serialLog.lastIndexOf("\n") + 1);
  const lines = complete.split(/\r?\n/).map((l) => l.trim()).filter((l) => l === tag || l.startsWith(`${tag} `));
  const last = lines.at(-1);
  if (last === undefined) return undefined;
  const entries = last.slice(tag.length).trim().split(/\s+/).filter(Boolean).map((kv): [string, string] => {
    const i = kv.indexOf("=");
    return i < 0 ? [kv, ""] : [kv.slice(0, i), kv.slice(i + 1)];
  });
  return new Map(entries);
}

/** How many times a line containing this text was printed. */
export function countOf(serialLog: string, needle: string): number {
  return serialLog.split(needle).length - 1;
}

/** What the guest printed between two marker lines (e.g. SEED-NETWORK-CONFIG-BEGIN/-END), undefined before the end marker. */
export function printedBetween(serialLog: string, begin: string, end: string): string | undefined {
  const from = serialLog.indexOf(begin);
  const to = serialLog.indexOf(end, from);
  if (from < 0 || to < 0) return undefined;
  return serialLog.slice(from + begin.length, to).replace(/\r\n/g, "\n").trim();
}
