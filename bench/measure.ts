import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import sharp from 'sharp';
import type { OhaResult } from './oha.js';

// Pieces both benchmarks (run.ts, scale-out.ts) measure and print with.

/** The short id of the commit checked out, which the results name. */
export function currentCommit(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

/** A JPEG of random pixels (incompressible, like a detailed photo) close to `target` bytes. */
export async function noiseJpeg(target: number): Promise<Buffer> {
  let side = Math.round(Math.sqrt(target / 1.9));
  for (let attempt = 0; attempt < 6; attempt++) {
    const bytes = await sharp(randomBytes(side * side * 3), { raw: { width: side, height: side, channels: 3 } }).jpeg({ quality: 85 }).toBuffer();
    if (Math.abs(bytes.length - target) / target < 0.05) return bytes;
    side = Math.round(side * Math.sqrt(target / bytes.length));
  }
  return sharp(randomBytes(side * side * 3), { raw: { width: side, height: side, channels: 3 } }).jpeg({ quality: 85 }).toBuffer();
}

/** A measured side of a cell: the load generator's figures and the CPU each process spent. */
export interface Measured extends OhaResult {
  /** CPU milliseconds per process over the side's slices (from /proc). */
  readonly cpuMs: Record<string, number>;
}

export const fmt = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : '–');

/** Slices of one side summed: rates over the total time, percentiles averaged over slices. */
export function merge(parts: readonly Measured[]): Measured {
  const sum = (pick: (part: Measured) => Record<string, number>) => {
    const total: Record<string, number> = {};
    for (const part of parts) for (const [key, value] of Object.entries(pick(part))) total[key] = (total[key] ?? 0) + value;
    return total;
  };
  const requests = parts.reduce((n, part) => n + part.requests, 0);
  const seconds = parts.reduce((n, part) => n + part.seconds, 0);
  const mean = (pick: (part: Measured) => number) => parts.reduce((n, part) => n + pick(part), 0) / parts.length;
  return { requests, seconds, perSecond: requests / seconds, p50Ms: mean((p) => p.p50Ms), p99Ms: mean((p) => p.p99Ms), statuses: sum((p) => p.statuses), errors: sum((p) => p.errors), cpuMs: sum((p) => p.cpuMs) };
}

/** CPU milliseconds per request of each process, and of all of them together. */
export function cpuPerRequest(side: Measured): Record<string, number> {
  const perRequest = Object.fromEntries(Object.entries(side.cpuMs).map(([name, ms]) => [name, ms / Math.max(1, side.requests)]));
  return { ...perRequest, total: Object.values(perRequest).reduce((sum, ms) => sum + ms, 0) };
}
