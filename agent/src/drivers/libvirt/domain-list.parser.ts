// PURE: `virsh list --all --uuid --name` -> uuid and name per domain.
export function parseUuidNameList(text: string): { uuid: string; name: string }[] {
  const out: { uuid: string; name: string }[] = [];
  for (const line of text.split("\n")) {
    const m = /^\s*([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\s+(.+?)\s*$/i.exec(line);
    if (m) out.push({ uuid: m[1]!.toLowerCase(), name: m[2]! });
  }
  return out;
}
