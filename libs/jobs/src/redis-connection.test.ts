import { describe, expect, it } from '@jest/globals';
import { Cluster } from 'ioredis';
import { bullmqConnection } from './redis-connection.js';

// What BullMQ is handed for each topology (the connections themselves are exercised by the
// topology tests in services/gateway/test/topologies).

const WAITING = { maxRetriesPerRequest: null };

describe('bullmqConnection', () => {
  it('hands a single server over as the URL and the options, as before topologies existed', () => {
    const { connection, release } = bullmqConnection({ kind: 'server', url: 'redis://:pw@cache:6380/2' }, { ...WAITING, enableOfflineQueue: false });
    expect(connection).toEqual({ url: 'redis://:pw@cache:6380/2', maxRetriesPerRequest: null, enableOfflineQueue: false });
    expect(release).toBeUndefined();
  });

  it('hands Sentinel over as options that find the primary, with the data nodes password', () => {
    const sentinels = [{ host: 's1', port: 26379 }, { host: 's2', port: 26380 }];
    expect(bullmqConnection({ kind: 'sentinel', sentinels, name: 'images', password: 'pw' }, WAITING)).toEqual({
      connection: { sentinels, name: 'images', password: 'pw', maxRetriesPerRequest: null },
    });
    expect(bullmqConnection({ kind: 'sentinel', sentinels, name: 'images', password: undefined }, WAITING).connection).not.toHaveProperty('password');
  });

  it('hands a cluster over as a Cluster instance, with options per node, and closes it on release', async () => {
    const { connection, release } = bullmqConnection(
      { kind: 'cluster', nodes: [{ host: '127.0.0.1', port: 1 }], password: 'pw' },
      { ...WAITING, enableOfflineQueue: false },
    );
    expect(connection).toBeInstanceOf(Cluster);
    const cluster = connection as Cluster;
    cluster.on('error', () => undefined);
    expect(cluster.options).toMatchObject({ enableOfflineQueue: false, redisOptions: { password: 'pw', maxRetriesPerRequest: null } });
    // (ioredis ignores a disconnect before it announces that it is connecting.)
    await new Promise((resolve) => cluster.once('connecting', resolve));
    const ended = new Promise((resolve) => cluster.once('end', resolve));
    await release?.();
    await ended;
    expect(cluster.status).toBe('end');
  });
});
