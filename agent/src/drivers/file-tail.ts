// The last bytes of a file that may be large and still growing (a serial console log), read
// without loading the whole file.
import { open } from "node:fs/promises";
import type { ConsoleLogTail } from "./hypervisor.js";

/** Bytes that continue a UTF-8 sequence: a tail cut inside a character starts after them. */
const isContinuationByte = (b: number): boolean => (b & 0xc0) === 0x80;

/** The last maxBytes bytes of the file as UTF-8 text; undefined when the file does not exist. */
export async function readFileTail(path: string, maxBytes: number): Promise<ConsoleLogTail | undefined> {
  let handle;
  try {
    handle = await open(path, "r");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
  try {
    const size = (await handle.stat()).size;
    const length = Math.min(size, maxBytes);
    const buf = Buffer.alloc(length);
    const { bytesRead } = await handle.read(buf, 0, length, size - length);
    let start = 0;
    if (size > length) while (start < bytesRead && start < 3 && isContinuationByte(buf[start]!)) start++;
    return { text: buf.subarray(start, bytesRead).toString("utf8"), truncated: size > length };
  } finally {
    await handle.close();
  }
}
