import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Cluster, Redis } from 'ioredis';
import { startLocalRedisCluster, type LocalRedisCluster } from '@imagehost/backends';
import { generateImageKey, generateVersionId, objectKeyFor } from '@imagehost/keys';
import { TestStack, fixtures, multipartBody, request, testBackendSettings, uniqueName, uploadImage, waitFor } from '@imagehost/testing';

// The real services on a real Redis Cluster (three primaries on loopback): every Redis
// command they send (BullMQ's multi-key scripts, the rate limiter, the sweep lock, the
// readiness check) must work there, which needs the hash-tagged prefix.

let dataDir: string;
let cluster: LocalRedisCluster;
let stack: TestStack;
let client: Cluster;
const prefix = `{${uniqueName('cluster')}}`;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'redis-cluster-'));
  cluster = await startLocalRedisCluster(dataDir, 3);
  const nodes = cluster.nodes.map((node) => `${node.host}:${node.port}`).join(',');
  stack = await TestStack.start({
    redisEnv: { REDIS_CLUSTER_NODES: nodes },
    env: {
      QUEUE_PREFIX: prefix,
      // The rate limiter's counters go to the cluster too.
      UPLOAD_RATE_LIMIT: '1000',
      SUPERSEDED_REAP_DELAY_MS: '0',
      SWEEP_INTERVAL_MS: '1000',
      SWEEP_GRACE_MS: '1000',
    },
  });
  client = new Cluster(cluster.nodes.map(({ host, port }) => ({ host, port })));
}, 90_000);

afterAll(async () => {
  client.disconnect();
  await stack.stop();
  await cluster.stop();
  rmSync(dataDir, { recursive: true, force: true });
}, 90_000);

/** Every key under the stack's prefix, per primary of the cluster. */
async function keysPerPrimary(): Promise<string[][]> {
  return Promise.all(client.nodes('master').map((node) => node.keys(`${prefix}:*`)));
}

describe('on a Redis Cluster', () => {
  it('stores, serves, replaces and deletes an image', async () => {
    const original = await fixtures.rgbPng(30, 20);
    const posted = await uploadImage(stack.baseUrl, original, 'a.png');
    expect(posted.status).toBe(201);
    expect(posted.headers.get('ratelimit-limit')).toBe('1000');
    const { image_key: key, update_key: updateKey } = posted.json as Record<string, string>;
    expect((await request(stack.url(`/${key}`))).body).toEqual(original);

    const replacement = await fixtures.baselineJpeg();
    const { body, contentType } = multipartBody([{ name: 'image', filename: 'b.jpg', bytes: replacement }]);
    const replaced = await request(stack.url(`/${key}`), { method: 'PATCH', body, headers: { 'content-type': contentType, 'x-update-key': updateKey ?? '' } });
    expect(replaced.status).toBe(200);
    // A replacement hands out new keys.
    const { delete_key: deleteKey } = replaced.json as Record<string, string>;
    const served = await request(stack.url(`/${key}`));
    expect([served.status, served.headers.get('content-type')]).toEqual([200, 'image/jpeg']);
    expect(served.body).toEqual(replacement);

    const removed = await request(stack.url(`/${key}`), { method: 'DELETE', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ delete_key: deleteKey }) });
    expect(removed.status).toBe(200);
    expect((await request(stack.url(`/${key}`))).status).toBe(404);
    // The replaced version and the deleted image are purged by the reaper through the cluster's queue.
    await stack.waitUntilConsistent(30_000);
    expect(await stack.objectKeys()).toEqual([]);
  });

  it('runs the sweep: an orphaned version object is removed', async () => {
    const orphan = objectKeyFor(generateImageKey(), generateVersionId());
    await stack.objects.putObject(orphan, await fixtures.rgbPng(), 'image/png');
    await waitFor('the sweep to remove the orphan', async () => ((await stack.objectKeys()).includes(orphan) ? undefined : true), 30_000, 250);
    expect(await stack.leftoverJobs()).toEqual([]);
  });

  it('keeps every key of the stack in one hash slot of the cluster, and none on the suite server', async () => {
    const perPrimary = await keysPerPrimary();
    const all = perPrimary.flat();
    expect(all).toEqual(expect.arrayContaining([`${prefix}:reap:meta`, `${prefix}:ingest:meta`]));
    expect(all.some((key) => key.startsWith(`${prefix}:ratelimit:`))).toBe(true);
    expect(perPrimary.filter((keys) => keys.length > 0)).toHaveLength(1);
    const slots = await Promise.all(all.map((key) => client.cluster('KEYSLOT', key)));
    expect(new Set(slots)).toEqual(new Set([await client.cluster('KEYSLOT', prefix)]));

    const single = new Redis(testBackendSettings().redisUrl);
    try {
      expect(await single.keys(`${prefix}*`)).toEqual([]);
    } finally {
      single.disconnect();
    }
    for (const service of stack.processes) expect((await request(`${service.opsUrl}/readyz`)).status).toBe(200);
  });
});
