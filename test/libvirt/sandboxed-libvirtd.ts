// Starts one privileged libvirtd for the real-libvirt tests in a private mount namespace: its
// own /etc, /var (overlays) and /run under a temporary root, QEMU running as root without
// cgroups/namespaces/security driver, no TCP listener (unix socket only) unless asked, so it
// cannot clash with the host's libvirt or other test daemons. (After ../shared/notes/real-libvirt.md.)
import { spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";

export interface SandboxedLibvirtd {
  root: string;
  uri: string;
  hostUuid: string;
  /** With `tcpListenAddress`: the URI other daemons reach this one at (qemu+tcp://ADDRESS/system). */
  tcpUri?: string;
  /** libvirt's log and QEMU's per-domain logs, for failure messages. */
  logs(): string;
  /**
   * Power loss: libvirtd and every QEMU it started SIGKILLed, nothing shut down or cleaned up
   * (stop() still removes what is left).
   */
  powerOff(): Promise<void>;
  /** UUIDs of the QEMU processes this daemon started that are alive (read from /proc: works with the daemon dead). */
  liveQemu(): string[];
  stop(): Promise<void>;
}

/**
 * A directory of this machine seen at another path inside a host's private mount namespace (its
 * libvirtd's and its agent's): a host's local disk at the path every host uses for it.
 */
export interface DirBind {
  source: string;
  target: string;
}

export const REQUIRED_TOOLS = ["virsh", "libvirtd", "qemu-system-x86_64", "qemu-img", "genisoimage", "unshare"] as const;

/**
 * `binds`: directories bound over others in the daemon's mount namespace (its QEMU sees them too).
 * `netns`: a network namespace (ip netns) the daemon, and so QEMU and its taps, run in; by
 * default the machine's own. `tcpListenAddress`: also listen (no auth) on libvirt's TCP port
 * 16509 at this address, for peer-to-peer migration from another daemon. Only ever an address
 * of a namespace of the test's own (a fixed port there clashes with nothing); never the
 * machine's.
 */
export async function startSandboxedLibvirtd(opts: { netns?: string; tcpListenAddress?: string; binds?: readonly DirBind[] } = {}): Promise<SandboxedLibvirtd> {
  if (opts.tcpListenAddress && !opts.netns) throw new Error("a TCP listener needs a network namespace of the test's own");
  if (process.getuid?.() !== 0) throw new Error("the sandboxed libvirtd needs root (mount namespaces, QEMU as root)");
  const root = mkdtempSync(join(tmpdir(), "orbit-libvirtd-"));
  const hostUuid = randomUUID();
  for (const d of ["etc-upper/libvirt", "etc-work", "var-upper", "var-work", "run", "log"]) mkdirSync(join(root, d), { recursive: true });
  writeFileSync(
    join(root, "etc-upper/libvirt/qemu.conf"),
    [
      'user = "root"',
      'group = "root"',
      'security_driver = "none"',
      "namespaces = [ ]",
      "cgroup_controllers = [ ]",
      'stdio_handler = "file"',
      "remember_owner = 0",
      "",
    ].join("\n"),
  );
  writeFileSync(
    join(root, "etc-upper/libvirt/libvirtd.conf"),
    [
      "listen_tls = 0",
      ...(opts.tcpListenAddress ? ["listen_tcp = 1", `listen_addr = "${opts.tcpListenAddress}"`, 'auth_tcp = "none"'] : ["listen_tcp = 0"]),
      'auth_unix_rw = "none"',
      'auth_unix_ro = "none"',
      `host_uuid = "${hostUuid}"`,
      "log_level = 3",
      `log_outputs = "3:file:${join(root, "log/libvirtd.log")}"`,
      "",
    ].join("\n"),
  );
  // Debian's libvirt expects this user even with user = "root" (it comes with libvirt-daemon-system).
  let passwd = readFileSync("/etc/passwd", "utf8");
  let group = readFileSync("/etc/group", "utf8");
  if (!/^libvirt-qemu:/m.test(passwd)) passwd += "libvirt-qemu:x:64055:64055:Libvirt Qemu,,,:/var/lib/libvirt:/usr/sbin/nologin\n";
  if (!/^libvirt-qemu:/m.test(group)) group += "libvirt-qemu:x:64055:\n";
  writeFileSync(join(root, "etc-upper/passwd"), passwd);
  writeFileSync(join(root, "etc-upper/group"), group);

  const inner = [
    `mount -t overlay overlay -o lowerdir=/etc,upperdir=${root}/etc-upper,workdir=${root}/etc-work /etc`,
    `mount -t overlay overlay -o lowerdir=/var,upperdir=${root}/var-upper,workdir=${root}/var-work /var`,
    `mount --bind ${root}/run /run`,
    ...(opts.binds ?? []).map((b) => `mount --bind ${b.source} ${b.target}`),
    `exec libvirtd ${opts.tcpListenAddress ? "--listen " : ""}--pid-file ${root}/run/libvirtd.pid`,
  ].join(" && ");
  const unshare = ["unshare", "-m", "--propagation", "private", "bash", "-c", inner];
  const argv = opts.netns ? ["ip", "netns", "exec", opts.netns, ...unshare] : unshare;
  const child: ChildProcess = spawn(argv[0]!, argv.slice(1), {
    stdio: ["ignore", "ignore", "pipe"],
    detached: true,
  });
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  const socket = join(root, "run/libvirt/libvirt-sock");
  const uri = `qemu+unix:///system?socket=${socket}`;
  const logs = (): string => {
    const parts = [`--- libvirtd stderr\n${stderr}`];
    const lf = join(root, "log/libvirtd.log");
    if (existsSync(lf)) parts.push(`--- libvirtd.log (tail)\n${readFileSync(lf, "utf8").slice(-4000)}`);
    const qdir = join(root, "var-upper/log/libvirt/qemu");
    if (existsSync(qdir)) for (const f of readdirSync(qdir)) parts.push(`--- ${f}\n${readFileSync(join(qdir, f), "utf8").slice(-3000)}`);
    return parts.join("\n");
  };

  const deadline = Date.now() + 15_000;
  while (!existsSync(socket)) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`libvirtd did not come up\n${logs()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }

  const qemuPids = (): number[] => {
    const qemuRun = join(root, "run/libvirt/qemu");
    if (!existsSync(qemuRun)) return [];
    return readdirSync(qemuRun).filter((x) => x.endsWith(".pid")).map((f) => Number(readFileSync(join(qemuRun, f), "utf8").trim())).filter((pid) => pid > 0);
  };
  const liveQemu = (): string[] => qemuPids().flatMap((pid) => {
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
      const i = argv.indexOf("-uuid");
      return i >= 0 && argv[i + 1] ? [argv[i + 1]!] : [];
    } catch {
      return [];
    }
  });
  const powerOff = async (): Promise<void> => {
    if (child.exitCode === null && child.pid) killQuietly(child.pid, "SIGKILL");
    for (const pid of qemuPids()) killQuietly(pid, "SIGKILL");
    await exited;
  };
  const stop = async (): Promise<void> => {
    // Guests first (libvirtd leaves QEMU running when it stops), by their pid files.
    const list = await execa("virsh", ["-c", uri, "list", "--uuid"], { reject: false });
    for (const uuid of list.stdout.split("\n").map((s) => s.trim()).filter(Boolean)) {
      await execa("virsh", ["-c", uri, "destroy", uuid], { reject: false });
    }
    for (const pid of qemuPids()) killQuietly(pid, "SIGKILL");
    if (child.exitCode === null && child.pid) {
      killQuietly(child.pid, "SIGTERM");
      const t = setTimeout(() => child.pid && killQuietly(child.pid, "SIGKILL"), 5000);
      await exited;
      clearTimeout(t);
    }
    rmSync(root, { recursive: true, force: true });
  };
  const tcpUri = opts.tcpListenAddress ? `qemu+tcp://${opts.tcpListenAddress}/system` : undefined;
  return { root, uri, hostUuid, ...(tcpUri ? { tcpUri } : {}), logs, powerOff, liveQemu, stop };
}

function killQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}
