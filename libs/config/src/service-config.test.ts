import { describe, expect, it } from '@jest/globals';
import { ConfigError } from './load-config.js';
import { loadGatewayConfig, loadIngestConfig, loadReaperConfig, loadRedisConfig } from './service-config.js';

const backends = {
  REDIS_URL: 'redis://127.0.0.1:6379',
  MONGO_URL: 'mongodb://127.0.0.1:27017/',
  S3_ENDPOINT: 'http://127.0.0.1:9000',
  S3_ACCESS_KEY: 'access',
  S3_SECRET_KEY: 'secret',
};

describe('service configuration', () => {
  it('applies the contract defaults', () => {
    const gateway = loadGatewayConfig(backends);
    expect(gateway.port).toBe(8080);
    expect(gateway.maxUploadBytes).toBe(10 * 1024 * 1024);
    expect(gateway.s3.bucket).toBe('images');
    expect(gateway.mongo.dbName).toBe('imagehost');
    expect(Object.isFrozen(gateway)).toBe(true);
    expect(loadIngestConfig(backends).maxImagePixels).toBe(40_000_000);
    expect(loadReaperConfig(backends).concurrency).toBe(4);
  });

  it('reads values from the environment and treats blanks as unset', () => {
    const config = loadGatewayConfig({ ...backends, PORT: '9090', MAX_UPLOAD_BYTES: '2048', PUBLIC_BASE_URL: 'https://img.example/', S3_BUCKET: '' });
    expect(config.port).toBe(9090);
    expect(config.maxUploadBytes).toBe(2048);
    expect(config.publicBaseUrl).toBe('https://img.example');
    expect(config.s3.bucket).toBe('images');
  });

  it('stops with one message naming every bad variable', () => {
    const attempt = () =>
      loadGatewayConfig({ ...backends, PORT: 'eighty', MAX_UPLOAD_BYTES: '-1', REDIS_URL: 'http://nope', S3_SECRET_KEY: undefined });
    expect(attempt).toThrow(ConfigError);
    let message = '';
    try {
      attempt();
    } catch (error) {
      message = (error as Error).message;
    }
    for (const name of ['PORT', 'MAX_UPLOAD_BYTES', 'REDIS_URL', 'S3_SECRET_KEY']) expect(message).toContain(name);
    expect(message).toContain('"eighty"');
  });

  it('refuses a memory budget smaller than one largest upload', () => {
    expect(() => loadGatewayConfig({ ...backends, MAX_UPLOAD_BYTES: '1000', UPLOAD_MEMORY_BUDGET_BYTES: '999' })).toThrow(/UPLOAD_MEMORY_BUDGET_BYTES/);
  });

  it('reads CORS_ORIGINS as * (any page writes) or a list of origins, and refuses anything else', () => {
    expect(loadGatewayConfig(backends).corsWriteOrigins).toBe('*');
    expect(loadGatewayConfig({ ...backends, CORS_ORIGINS: 'https://a.example, http://127.0.0.1:3000' }).corsWriteOrigins).toEqual([
      'https://a.example',
      'http://127.0.0.1:3000',
    ]);
    for (const bad of ['https://a.example/path', 'a.example', 'ftp://a.example', 'https://a.example, *', ',']) {
      expect(() => loadGatewayConfig({ ...backends, CORS_ORIGINS: bad })).toThrow(/CORS_ORIGINS/);
    }
  });

  it('refuses names that would not be valid buckets or databases', () => {
    expect(() => loadIngestConfig({ ...backends, S3_BUCKET: 'Bad_Bucket' })).toThrow(/S3_BUCKET/);
    expect(() => loadReaperConfig({ ...backends, MONGO_DB_NAME: 'a' })).toThrow(/MONGO_DB_NAME/);
  });

  describe('Redis topology', () => {
    const { REDIS_URL, ...withoutRedis } = backends;

    it('is one server from REDIS_URL by default, with the unbraced prefix', () => {
      const config = loadIngestConfig(backends);
      expect(config.redis).toEqual({ kind: 'server', url: REDIS_URL });
      expect(config.queuePrefix).toBe('imagehost');
    });

    it('finds the primary through the Sentinels', () => {
      const config = loadGatewayConfig({ ...withoutRedis, REDIS_SENTINELS: 'sentinel-0:26379, [::1]:26380', REDIS_SENTINEL_NAME: 'images', REDIS_PASSWORD: 'pw' });
      expect(config.redis).toEqual({
        kind: 'sentinel',
        sentinels: [
          { host: 'sentinel-0', port: 26379 },
          { host: '::1', port: 26380 },
        ],
        name: 'images',
        password: 'pw',
      });
      expect(loadReaperConfig({ ...withoutRedis, REDIS_SENTINELS: 'a:1' }).redis).toMatchObject({ name: 'mymaster', password: undefined });
    });

    it('joins a cluster with a hash-tagged prefix, and refuses one without braces there', () => {
      const config = loadReaperConfig({ ...withoutRedis, REDIS_CLUSTER_NODES: '10.0.0.1:6379,10.0.0.2:6379', QUEUE_PREFIX: '{imagehost}' });
      expect(config.redis).toEqual({ kind: 'cluster', nodes: [{ host: '10.0.0.1', port: 6379 }, { host: '10.0.0.2', port: 6379 }], password: undefined });
      expect(config.queuePrefix).toBe('{imagehost}');
      expect(() => loadReaperConfig({ ...withoutRedis, REDIS_CLUSTER_NODES: '10.0.0.1:6379' })).toThrow(/QUEUE_PREFIX: must be in braces on a Redis Cluster \(e\.g\. \{imagehost\}\)/);
    });

    it('needs exactly one of the three, in every service', () => {
      for (const load of [loadGatewayConfig, loadIngestConfig, loadReaperConfig]) {
        expect(() => load(withoutRedis)).toThrow(/REDIS_URL: set one of REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER_NODES/);
        expect(() => load({ ...backends, REDIS_SENTINELS: 'a:1' })).toThrow(/REDIS_SENTINELS: set only one of REDIS_URL, REDIS_SENTINELS/);
      }
    });

    it('refuses lists that are not host:port, and prefixes with half a brace', () => {
      for (const bad of ['a', 'a:', ':6379', 'a:1,b', 'a:1:2', 'redis://a:1']) {
        expect(() => loadRedisConfig({ REDIS_CLUSTER_NODES: bad, QUEUE_PREFIX: '{x-y}' })).toThrow(/REDIS_CLUSTER_NODES/);
      }
      expect(() => loadRedisConfig({ REDIS_URL, QUEUE_PREFIX: '{imagehost' })).toThrow(/QUEUE_PREFIX/);
      expect(loadRedisConfig({ REDIS_URL })).toEqual({ redis: { kind: 'server', url: REDIS_URL }, queuePrefix: 'imagehost' });
    });
  });
});
