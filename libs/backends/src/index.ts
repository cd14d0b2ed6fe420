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
export { pingRedis } from './local/redis.js';
export { pingMongo } from './local/ferretdb.js';
export { pingS3 } from './local/versitygw.js';
export { FERRETDB_VERSION, VERSITYGW_VERSION, goToolBinary } from './local/go-binaries.js';
export { BackendUnavailableError, type BackendSettings, type BackendSource, type Backends, type S3Settings } from './types.js';
