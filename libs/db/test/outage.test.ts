import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Connection } from 'mongoose';
import { AppError } from '@imagehost/errors';
import { ImageRepository, connectDatabase } from '@imagehost/db';
import { FaultProxy, testBackendSettings, uniqueName, waitFor } from '@imagehost/testing';

// A MongoDB that resets every connection must look like an outage to every caller (503),
// however the driver happens to report it: a reset during a command's write reached callers
// as Node's bare `ECONNRESET`, which the gateway answered with a 500.
const settings = testBackendSettings();
let proxy: FaultProxy;
let connection: Connection;
let images: ImageRepository;

beforeAll(async () => {
  const target = new URL(settings.mongoUrl);
  proxy = await FaultProxy.start({ host: target.hostname, port: Number(target.port) });
  connection = connectDatabase({ url: proxy.proxiedUrl(settings.mongoUrl), dbName: uniqueName('outage') });
  images = new ImageRepository(connection);
  await images.prepare();
});

afterAll(async () => {
  await connection.dropDatabase().catch(() => undefined);
  await connection.close();
  await proxy.stop();
});

describe('ImageRepository while MongoDB resets every connection', () => {
  it('fails every lookup with BACKEND_UNAVAILABLE, then recovers', async () => {
    const outcomes = new Map<string, number>();
    for (let round = 0; round < 12; round++) {
      // Connections in use, then all of them reset: the state a crashed server leaves.
      await Promise.all([0, 1, 2, 3].map((n) => images.findLive(`warm${round}${n}`)));
      proxy.setMode('refuse');
      const results = await Promise.allSettled([images.findLive('a'), images.findAny('b'), images.markDeleted('c', 'h', new Date())]);
      for (const result of results) {
        const outcome = result.status === 'fulfilled' ? 'answered' : result.reason instanceof AppError ? result.reason.code : `${(result.reason as Error).name}: ${(result.reason as Error).message}`;
        outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
      }
      proxy.setMode('pass');
      await waitFor('MongoDB to answer again', () => images.ping().then(() => true, () => undefined), 15_000, 100);
    }
    expect(Object.fromEntries(outcomes)).toEqual({ BACKEND_UNAVAILABLE: 36 });
  });
});
