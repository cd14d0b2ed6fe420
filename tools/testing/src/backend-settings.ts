import { randomBytes } from 'node:crypto';
import { BACKEND_ENV, mongoUrlFromEnvironment, redisUrlFromEnvironment, s3FromEnvironment, type BackendSettings } from '@imagehost/backends';

/**
 * The backends the global setup provided, read from the environment. Tests never start
 * their own servers; they isolate themselves by names instead (see `uniqueName`).
 */
export function testBackendSettings(env: NodeJS.ProcessEnv = process.env): BackendSettings {
  const redisUrl = redisUrlFromEnvironment(env);
  const mongoUrl = mongoUrlFromEnvironment(env);
  const s3 = s3FromEnvironment(env);
  if (redisUrl === undefined || mongoUrl === undefined || s3 === undefined) {
    throw new Error(
      `Backends are not set (${BACKEND_ENV.redisUrl}, ${BACKEND_ENV.mongoUrl}, ${BACKEND_ENV.s3Endpoint}): run tests through \`npm test\`, whose global setup provides them.`,
    );
  }
  return { redisUrl, mongoUrl, s3 };
}

/**
 * A name no other test uses, valid as a MongoDB database, an S3 bucket and a BullMQ prefix
 * (lower-case letters, digits and dashes, at most 40 characters).
 */
export function uniqueName(purpose: string): string {
  const cleaned = purpose.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 24) || 't';
  return `${cleaned}-${randomBytes(6).toString('hex')}`;
}
