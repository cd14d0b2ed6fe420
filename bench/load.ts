import { Agent, request as httpRequest } from 'node:http';

export interface LoadResult {
  readonly ops: number;
  readonly errors: number;
  readonly seconds: number;
  readonly perSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Status codes seen (HTTP cells only). */
  readonly statuses: Record<string, number>;
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

/** Latencies and outcomes of one closed-loop run, before they are summarised. */
interface Measured {
  readonly latencies: number[];
  readonly statuses: Record<string, number>;
  readonly errors: number;
  readonly seconds: number;
}

type Op = (index: number) => Promise<number | void>;

/**
 * A closed loop: `concurrency` workers each run `op` back to back until `durationMs` has
 * passed or `maxOps` operations were started, whichever comes first. Every op's latency is
 * kept; an op that throws counts as an error.
 */
async function measure(options: { concurrency: number; durationMs: number; maxOps?: number; op: Op }): Promise<Measured> {
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  let started = 0;
  let errors = 0;
  const begin = performance.now();
  const deadline = begin + options.durationMs;
  const maxOps = options.maxOps ?? Number.POSITIVE_INFINITY;
  const worker = async () => {
    while (performance.now() < deadline && started < maxOps) {
      const index = started++;
      const t0 = performance.now();
      try {
        const status = await options.op(index);
        latencies.push(performance.now() - t0);
        if (typeof status === 'number') statuses[status] = (statuses[status] ?? 0) + 1;
      } catch {
        errors += 1;
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  return { latencies, statuses, errors, seconds: (performance.now() - begin) / 1000 };
}

function summarise(runs: readonly Measured[]): LoadResult {
  const latencies = runs.flatMap((run) => run.latencies).sort((a, b) => a - b);
  const statuses: Record<string, number> = {};
  for (const run of runs) for (const [status, count] of Object.entries(run.statuses)) statuses[status] = (statuses[status] ?? 0) + count;
  const seconds = runs.reduce((sum, run) => sum + run.seconds, 0);
  return {
    ops: latencies.length,
    errors: runs.reduce((sum, run) => sum + run.errors, 0),
    seconds,
    perSecond: latencies.length / seconds,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    statuses,
  };
}

/** One closed-loop run (see `measure`), summarised. */
export async function runLoad(options: { concurrency: number; durationMs: number; maxOps?: number; op: Op }): Promise<LoadResult> {
  return summarise([await measure(options)]);
}

/** A keep-alive HTTP client that reads every response body to its end. */
export function httpClient(maxSockets: number) {
  const agent = new Agent({ keepAlive: true, maxSockets });
  return {
    async send(url: string, method: string, body?: Buffer, headers: Record<string, string> = {}): Promise<{ status: number; body: Buffer }> {
      return new Promise((resolve, reject) => {
        const req = httpRequest(url, { method, agent, headers: body === undefined ? headers : { ...headers, 'content-length': String(body.length) } }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
          res.on('error', reject);
        });
        req.on('error', reject);
        req.end(body);
      });
    },
    close: () => agent.destroy(),
  };
}
