import { readFileSync, readdirSync, readlinkSync } from 'node:fs';

// CPU time per process from /proc: what a request costs each process on its path, which holds
// across machines far better than a rate on two shared cores.

/** Clock ticks per second of /proc/<pid>/stat's utime and stime (USER_HZ, 100 on Linux). */
const TICKS_PER_SECOND = 100;

/** The fields of /proc/<pid>/stat after the command name, which is in parentheses and may hold spaces. */
function statFields(pid: number): string[] {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** User + system CPU time of `pid` so far, in milliseconds (children not included). */
export function cpuMillis(pid: number): number {
  const fields = statFields(pid);
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
}

/** User + system CPU time of the children `pid` has ended and waited for, in milliseconds. */
export function reapedChildrenCpuMillis(pid: number): number {
  const fields = statFields(pid);
  return ((Number(fields[13]) + Number(fields[14])) * 1000) / TICKS_PER_SECOND;
}

function cpuMillisIfRunning(pid: number): number | undefined {
  try {
    return cpuMillis(pid);
  } catch {
    return undefined;
  }
}

/** The process with a socket listening on TCP `port` (IPv4 or IPv6), if this user can see it. */
export function pidListeningOn(port: number): number | undefined {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const columns = line.trim().split(/\s+/);
      // local_address is ADDR:PORT; st 0A is LISTEN; column 9 is the inode.
      if (columns[1]?.endsWith(`:${hexPort}`) && columns[3] === '0A' && columns[9] !== undefined) inodes.add(columns[9]);
    }
  }
  if (inodes.size === 0) return undefined;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${entry}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const target = readlinkSync(`/proc/${entry}/fd/${fd}`);
        if (target.startsWith('socket:[') && inodes.has(target.slice(8, -1))) return Number(entry);
      } catch {
        // The descriptor closed meanwhile.
      }
    }
  }
  return undefined;
}

/** CPU milliseconds each named process spent between `start()` and `stop()`. */
export class CpuMeter {
  private readonly before = new Map<string, number>();

  constructor(private readonly pids: Readonly<Record<string, number | undefined>>) {}

  start(): void {
    for (const [name, pid] of Object.entries(this.pids)) {
      const now = pid === undefined ? undefined : cpuMillisIfRunning(pid);
      if (now !== undefined) this.before.set(name, now);
    }
  }

  /** A process that ended meanwhile is left out rather than counted short. */
  stop(): Record<string, number> {
    const spent: Record<string, number> = {};
    for (const [name, pid] of Object.entries(this.pids)) {
      const before = this.before.get(name);
      const now = pid === undefined ? undefined : cpuMillisIfRunning(pid);
      if (before !== undefined && now !== undefined) spent[name] = now - before;
    }
    return spent;
  }
}
