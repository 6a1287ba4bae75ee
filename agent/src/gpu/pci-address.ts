// PCI addresses in one canonical form: sysfs/libvirt style "dddd:bb:ss.f", lower case.
// nvidia-smi prints an 8-digit domain in upper case ("00000000:C1:00.0"); sysfs and libvirt use 4.

const PCI_ADDRESS = /^(?:([0-9a-f]{1,8}):)?([0-9a-f]{1,2}):([0-9a-f]{1,2})\.([0-7])$/i;

/** "00000000:C1:00.0" → "0000:c1:00.0". Returns undefined when the text is not a PCI address. */
export function normalizePciAddress(text: string): string | undefined {
  const m = PCI_ADDRESS.exec(text.trim());
  if (!m) return undefined;
  const domain = Number.parseInt(m[1] ?? "0", 16).toString(16).padStart(4, "0");
  const bus = m[2]!.toLowerCase().padStart(2, "0");
  const slot = m[3]!.toLowerCase().padStart(2, "0");
  return `${domain}:${bus}:${slot}.${m[4]}`;
}

export function isPciAddress(text: string): boolean {
  return normalizePciAddress(text) !== undefined;
}
