import { readFileSync } from 'node:fs';

/**
 * The resident set size of process `pid` in bytes, from `/proc/<pid>/status` (Linux); 0 when
 * the process is gone or the file cannot be read.
 */
export function readRss(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = /VmRSS:\s+(\d+) kB/.exec(status);
    return match === null ? 0 : Number(match[1]) * 1024;
  } catch {
    return 0;
  }
}
