import type { S3Settings } from './types.js';

/** The variables that name backends directly; when set they win over everything else. */
export const BACKEND_ENV = {
  redisUrl: 'REDIS_URL',
  mongoUrl: 'MONGO_URL',
  s3Endpoint: 'S3_ENDPOINT',
  s3AccessKey: 'S3_ACCESS_KEY',
  s3SecretKey: 'S3_SECRET_KEY',
  s3Region: 'S3_REGION',
  s3Bucket: 'S3_BUCKET',
} as const;

export const DEFAULT_S3_BUCKET = 'images';
export const DEFAULT_S3_REGION = 'us-east-1';

type Env = Readonly<Record<string, string | undefined>>;

function readNonEmpty(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value === undefined || value === '' ? undefined : value;
}

export function redisUrlFromEnvironment(env: Env): string | undefined {
  return readNonEmpty(env, BACKEND_ENV.redisUrl);
}

export function mongoUrlFromEnvironment(env: Env): string | undefined {
  return readNonEmpty(env, BACKEND_ENV.mongoUrl);
}

/** The bucket name from the environment, or the default; used whatever the S3 source. */
export function s3BucketFromEnvironment(env: Env): string {
  return readNonEmpty(env, BACKEND_ENV.s3Bucket) ?? DEFAULT_S3_BUCKET;
}

/**
 * S3 settings when `S3_ENDPOINT` is set. Credentials must come with it: an endpoint without
 * them is a configuration mistake, not a reason to start a local server.
 */
export function s3FromEnvironment(env: Env): S3Settings | undefined {
  const endpoint = readNonEmpty(env, BACKEND_ENV.s3Endpoint);
  if (endpoint === undefined) return undefined;
  const accessKey = readNonEmpty(env, BACKEND_ENV.s3AccessKey);
  const secretKey = readNonEmpty(env, BACKEND_ENV.s3SecretKey);
  if (accessKey === undefined || secretKey === undefined) {
    throw new Error(
      `${BACKEND_ENV.s3Endpoint} is set but ${BACKEND_ENV.s3AccessKey} and ${BACKEND_ENV.s3SecretKey} are not: set both credentials.`,
    );
  }
  return {
    endpoint,
    accessKey,
    secretKey,
    region: readNonEmpty(env, BACKEND_ENV.s3Region) ?? DEFAULT_S3_REGION,
    bucket: s3BucketFromEnvironment(env),
  };
}

/** The environment a service process needs to reach these backends. */
export function backendEnvironment(settings: {
  redisUrl: string;
  mongoUrl: string;
  s3: S3Settings;
}): Record<string, string> {
  return {
    [BACKEND_ENV.redisUrl]: settings.redisUrl,
    [BACKEND_ENV.mongoUrl]: settings.mongoUrl,
    [BACKEND_ENV.s3Endpoint]: settings.s3.endpoint,
    [BACKEND_ENV.s3AccessKey]: settings.s3.accessKey,
    [BACKEND_ENV.s3SecretKey]: settings.s3.secretKey,
    [BACKEND_ENV.s3Region]: settings.s3.region,
    [BACKEND_ENV.s3Bucket]: settings.s3.bucket,
  };
}
