export { provideBackends, type ProvideBackendsOptions } from './provide-backends.js';
export {
  BACKEND_ENV,
  DEFAULT_S3_BUCKET,
  DEFAULT_S3_REGION,
  backendEnvironment,
  mongoUrlFromEnvironment,
  redisUrlFromEnvironment,
  s3FromEnvironment,
} from './environment.js';
export { debianTool, type DebianTool } from './local/debian-packages.js';
export { pingRedis, startLocalRedis } from './local/redis.js';
export { startLocalRedisCluster, startLocalRedisSentinels, type LocalRedisCluster, type LocalRedisSentinels, type RedisNodeProcess } from './local/redis-topologies.js';
export { pingMongo, startLocalMongo } from './local/mongo-java-server.js';
export { pingS3, startLocalMinio } from './local/minio.js';
export { MINIO_MODULE, MINIO_VERSION, goToolBinary } from './local/go-binaries.js';
export { cachedBuild } from './local/cache.js';
export { commandExists, runCommand } from './local/run-command.js';
export { freePort } from './local/free-port.js';
export { MONGO_IMAGE, REDIS_IMAGE } from './containers.js';
export { BackendUnavailableError, type BackendSettings, type BackendSource, type Backends, type S3Settings } from './types.js';
