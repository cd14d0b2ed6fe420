import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Connection } from 'mongoose';
import { ImageRepository, connectDatabase, type ImageRecord } from '@imagehost/db';
import { testBackendSettings, uniqueName } from '@imagehost/testing';

// Expiry and hiding on the suite's MongoDB-protocol server: the conditions the gateway and
// the reaper rely on (an expired or hidden image cannot be deleted or replaced by its keys,
// the expiry scan finds exactly the expired live images, soonest first, in batches), on
// records with an expiry, without one, and older records that lack the fields.

const settings = testBackendSettings();
let connection: Connection;
let images: ImageRepository;
const NOW = new Date('2026-03-04T05:06:07.000Z');
const at = (offsetMs: number) => new Date(NOW.getTime() + offsetMs);

function record(imageKey: string, fields: Partial<ImageRecord> = {}): ImageRecord {
  return {
    _id: imageKey,
    versionId: `${imageKey}-v1`,
    objectKey: `images/${imageKey}/${imageKey}-v1`,
    contentType: 'image/png',
    bytes: 10,
    width: 1,
    height: 1,
    sha256: 'a'.repeat(64),
    deleteKeyHash: 'd'.repeat(64),
    updateKeyHash: 'u'.repeat(64),
    createdAt: at(-60_000),
    updatedAt: at(-60_000),
    deletedAt: null,
    ...fields,
  };
}

const next = (imageKey: string) => ({
  versionId: `${imageKey}-v2`,
  objectKey: `images/${imageKey}/${imageKey}-v2`,
  contentType: 'image/png' as const,
  bytes: 11,
  width: 1,
  height: 1,
  sha256: 'b'.repeat(64),
  deleteKeyHash: 'e'.repeat(64),
  updateKeyHash: 'v'.repeat(64),
  updatedAt: NOW,
});

beforeAll(async () => {
  connection = connectDatabase({ url: settings.mongoUrl, dbName: uniqueName('lifetime') });
  images = new ImageRepository(connection);
  await images.prepare();
});

afterAll(async () => {
  await connection.dropDatabase();
  await connection.close();
});

async function insertLegacy(imageKey: string): Promise<void> {
  // A record written before expiry existed: `record` sets neither expiresAt nor hiddenAt.
  const legacy: Omit<ImageRecord, 'expiresAt' | 'hiddenAt'> = record(imageKey);
  await connection.collection<Omit<ImageRecord, 'expiresAt' | 'hiddenAt'>>('images').insertOne(legacy);
}

describe('ImageRepository and lifetimes', () => {
  it('refuses delete and replace on an image expired at that moment, and allows them just before', async () => {
    await images.insertIfAbsent(record('expiring', { expiresAt: NOW }));
    expect(await images.markDeleted('expiring', 'd'.repeat(64), NOW)).toBe(false);
    expect(await images.replaceVersion('expiring', 'u'.repeat(64), next('expiring'), NOW)).toBeUndefined();
    expect(await images.findAny('expiring')).toMatchObject({ versionId: 'expiring-v1', deletedAt: null });

    expect(await images.replaceVersion('expiring', 'u'.repeat(64), { ...next('expiring'), expiresAt: at(3_600_000) }, at(-1))).toMatchObject({ versionId: 'expiring-v1' });
    expect(await images.findAny('expiring')).toMatchObject({ versionId: 'expiring-v2', expiresAt: at(3_600_000) });
    expect(await images.markDeleted('expiring', 'e'.repeat(64), NOW)).toBe(true);
  });

  it('treats records without an expiry, and records older than expiry, as never expiring', async () => {
    await images.insertIfAbsent(record('forever', { expiresAt: null }));
    await insertLegacy('legacy');
    const far = at(100 * 365 * 24 * 3600_000);
    expect(await images.findExpired(far, 100)).not.toEqual(expect.arrayContaining(['forever']));
    expect(await images.findExpired(far, 100)).not.toEqual(expect.arrayContaining(['legacy']));
    expect(await images.replaceVersion('legacy', 'u'.repeat(64), next('legacy'), far)).toMatchObject({ versionId: 'legacy-v1' });
    expect(await images.markDeleted('forever', 'd'.repeat(64), far)).toBe(true);
  });

  it('refuses delete and replace on a hidden image until it is shown again', async () => {
    await images.insertIfAbsent(record('reported'));
    expect(await images.hide('reported', NOW)).toBe(true);
    expect(await images.hide('reported', NOW)).toBe(false);
    expect(await images.markDeleted('reported', 'd'.repeat(64), NOW)).toBe(false);
    expect(await images.replaceVersion('reported', 'u'.repeat(64), next('reported'), NOW)).toBeUndefined();
    expect(await images.findAny('reported')).toMatchObject({ hiddenAt: NOW, deletedAt: null });
    expect(await images.unhide('reported')).toBe(true);
    expect(await images.unhide('reported')).toBe(false);
    expect(await images.markDeleted('reported', 'd'.repeat(64), NOW)).toBe(true);
  });

  it('finds expired live images soonest first, in batches, and makes tombstones of those still expired', async () => {
    const scan = uniqueName('scan');
    const keys = Array.from({ length: 5 }, (_, n) => `${scan}-${n}`);
    // Expired 5, 4, 3, 2 and 1 seconds before NOW; one more expires after NOW, one was deleted.
    for (const [n, key] of keys.entries()) await images.insertIfAbsent(record(key, { expiresAt: at(-(5 - n) * 1000) }));
    await images.insertIfAbsent(record(`${scan}-later`, { expiresAt: at(1000) }));
    await images.insertIfAbsent(record(`${scan}-deleted`, { expiresAt: at(-10_000), deletedAt: at(-20_000) }));

    const mine = async (limit: number) => (await images.findExpired(NOW, limit)).filter((key) => key.startsWith(scan));
    expect(await mine(100)).toEqual(keys);
    const first = (await images.findExpired(NOW, 100)).filter((key) => key.startsWith(scan)).slice(0, 2);
    expect(await images.markExpired(first, NOW)).toBe(2);
    expect(await images.markExpired(first, NOW)).toBe(0);
    expect(await mine(100)).toEqual(keys.slice(2));
    expect(await images.markExpired([`${scan}-later`], NOW)).toBe(0);
    expect(await images.findAny(`${scan}-later`)).toMatchObject({ deletedAt: null });
    expect(await images.findTombstones(at(1), 1000)).toEqual(expect.arrayContaining(first));
  });
});
