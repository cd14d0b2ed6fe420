import { describe, expect, it } from '@jest/globals';
import { runSoak } from '../soak.js';

const MiB = 2 ** 20;
/**
 * A service process here starts at 120-145 MiB (Node, fastify or the BullMQ workers, sharp)
 * and peaked at 150-190 MiB in these runs (the gateway adds its 32 MiB version cache and
 * upload buffers); 400 MiB is twice that, so only an unbounded buffer or cache reaches it.
 */
const MAX_RSS_BYTES = 400 * MiB;
/**
 * Over one minute the processes are still warming up (heaps growing to their working size,
 * the gateways' 32 MiB version caches filling, the ingest workers' decoders after the spike)
 * and the spike sits between the two fifths compared. Measured growth: 4-28 MiB on Node 20;
 * on Node 24, in a clean-clone run of the whole suite, gateways 31.6 and 41.6 MiB, reaper 62.7,
 * ingest workers 97.9 and 103.3 (they also hash every upload's picture for the blocklist now).
 * 160 MiB allows for that and a slower machine; it catches gross leaks only (about 60 KiB per
 * request, at ~2 500 requests per gateway): the minutes of `npm run soak` are the test of
 * flatness.
 */
const MAX_GROWTH_BYTES = 160 * MiB;

// The short soak: about a minute of mixed load with a 10 s spike, through the same runSoak
// as `npm run soak`, on the suite's backends.
describe('soak (short)', () => {
  it('answers every request as the contract says, keeps every invariant, and bounds memory', async () => {
    const report = await runSoak({
      concurrency: 4,
      steadyBeforeMs: 25_000,
      spikeMs: 10_000,
      spikeFactor: 10,
      steadyAfterMs: 25_000,
      // One address for the spike's upload flood, so the per-minute limit is certain to bite within 10 s.
      floodSources: 1,
      memoryBounds: { maxRssBytes: MAX_RSS_BYTES, maxGrowthBytes: MAX_GROWTH_BYTES },
      drainTimeoutMs: 60_000,
      consistencyTimeoutMs: 60_000,
      log: process.env.SOAK_VERBOSE === '1' ? (line) => process.stderr.write(`${line}\n`) : undefined,
    });
    const summary = {
      requests: report.load.requests,
      ops: Object.fromEntries(Object.entries(report.load.ops).map(([op, s]) => [op, { ...s.statuses, p50: s.p50Ms, p99: s.p99Ms }])),
      drainMs: report.drainMs,
      peakIngestBacklog: report.peakIngestBacklog,
      spikeBacklogRecoverySeconds: report.spikeBacklogRecoverySeconds,
      totalMs: report.totalMs,
      memoryMiB: report.memory.map((m) => `${m.process}: ${(m.firstBytes / MiB).toFixed(0)}→${(m.maxBytes / MiB).toFixed(0)} max, growth ${(m.growthBytes / MiB).toFixed(1)}`),
    };
    process.stderr.write(`[soak] ${JSON.stringify(summary)}\n`);

    expect(report.load.unexpected).toEqual([]);
    expect(report.load.unexpectedCount).toBe(0);
    expect(report.invariants.filter((i) => !i.ok)).toEqual([]);
    expect(report.invariants.map((i) => i.name)).toEqual([
      'no unexpected status',
      'the spike gets answers, not timeouts',
      'ingest backlog drains',
      'every 202 became its image',
      'objects and records agree',
      'every live image serves its last acknowledged bytes',
      'deleted images are 404 with bytes and record gone',
      'no 5xx for a client mistake',
      'at most one successful PATCH per update key',
      'no process exited',
      'memory bounded and flat',
    ]);
    // The load did what it says: every kind of operation ran, against both gateways' processes.
    for (const op of ['upload', 'hot-read', 'cold-read', 'replace', 'delete', 'read-deleted']) expect(report.load.ops[op]?.requests ?? 0).toBeGreaterThan(0);
    expect(Object.keys(report.load.ops).filter((op) => op.startsWith('bad-')).length).toBeGreaterThanOrEqual(6);
    expect(report.load.spikeWindowMs).toBeDefined();
    // The flood from one address goes past the per-minute limit within the spike: shed with 429.
    expect(report.load.ops['flood-upload']?.statuses['429'] ?? 0).toBeGreaterThan(0);
    expect(report.ledger.deleted).toBeGreaterThan(0);
    expect(report.memory.map((m) => m.process).sort()).toEqual(['gateway-1', 'gateway-2', 'ingest-1', 'ingest-2', 'load', 'reaper-1']);
    for (const m of report.memory.filter((p) => p.process !== 'load')) {
      expect(m.maxBytes).toBeLessThan(MAX_RSS_BYTES);
      expect(m.growthBytes).toBeLessThan(MAX_GROWTH_BYTES);
    }
  }, 240_000);
});
