import { IMAGE_KEY_LENGTH, VERSION_ID_LENGTH } from './keys.js';

// The one owner of the S3 object-key layout: `images/{image_key}/{version_id}`, one object
// per version, the versions of an image under one prefix; and `quarantine/{image_key}/
// {version_id}`, where a taken-down image's versions wait out their retention, outside
// everything served. Objects already stored follow it, so changing it is a migration.

/** The prefix of every image object in the bucket. */
export const IMAGE_OBJECTS_PREFIX = 'images/';

const OBJECT_KEY_PATTERN = new RegExp(`^images/([A-Za-z0-9_-]{${IMAGE_KEY_LENGTH}})/([A-Za-z0-9_-]{${VERSION_ID_LENGTH}})$`);

/** The S3 object key of one version of one image. */
export function objectKeyFor(imageKey: string, versionId: string): string {
  return `${IMAGE_OBJECTS_PREFIX}${imageKey}/${versionId}`;
}

/** The prefix under which every version of one image lies. */
export function imageObjectsPrefix(imageKey: string): string {
  return `${IMAGE_OBJECTS_PREFIX}${imageKey}/`;
}

/** The image and version an object key names, or `undefined` for any other key. */
export function parseObjectKey(key: string): { imageKey: string; versionId: string } | undefined {
  const match = OBJECT_KEY_PATTERN.exec(key);
  if (match === null) return undefined;
  const [, imageKey = '', versionId = ''] = match;
  return { imageKey, versionId };
}

export function isObjectKey(value: unknown): value is string {
  return typeof value === 'string' && OBJECT_KEY_PATTERN.test(value);
}

/** The prefix of every quarantined object: bytes of taken-down images, never served. */
export const QUARANTINE_OBJECTS_PREFIX = 'quarantine/';

const QUARANTINE_KEY_PATTERN = new RegExp(`^quarantine/([A-Za-z0-9_-]{${IMAGE_KEY_LENGTH}})/([A-Za-z0-9_-]{${VERSION_ID_LENGTH}})$`);

/** Where a version object of a taken-down image is kept during its retention. */
export function quarantineKeyFor(imageKey: string, versionId: string): string {
  return `${QUARANTINE_OBJECTS_PREFIX}${imageKey}/${versionId}`;
}

/** The prefix under which every quarantined version of one image lies. */
export function quarantinePrefix(imageKey: string): string {
  return `${QUARANTINE_OBJECTS_PREFIX}${imageKey}/`;
}

/** The image and version a quarantine key names, or `undefined` for any other key. */
export function parseQuarantineKey(key: string): { imageKey: string; versionId: string } | undefined {
  const match = QUARANTINE_KEY_PATTERN.exec(key);
  if (match === null) return undefined;
  const [, imageKey = '', versionId = ''] = match;
  return { imageKey, versionId };
}
