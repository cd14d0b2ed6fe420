import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Connection } from 'mongoose';
import { ImageRepository, connectDatabase, type ImageRecord } from '@imagehost/db';
import { testBackendSettings, uniqueName } from '@imagehost/testing';

const settings = testBackendSettings();
let connection: Connection;
let images: ImageRepository;
const observed: [string, string][] = [];

function record(imageKey: string, deletedAt: Date | null = null): ImageRecord {
  const at = new Date('2026-01-02T03:04:05.678Z');
  return {
    _id: imageKey,
    versionId: `${imageKey}-v1`,
    objectKey: `images/${imageKey}/${imageKey}-v1`,
    contentType: 'image/png',
    bytes: 1234,
    width: 12,
    height: 34,
    sha256: 'a'.repeat(64),
    deleteKeyHash: 'd'.repeat(64),
    updateKeyHash: 'u'.repeat(64),
    createdAt: at,
    updatedAt: at,
    deletedAt,
  };
}

beforeAll(async () => {
  connection = connectDatabase({ url: settings.mongoUrl, dbName: uniqueName('lookups') });
  images = new ImageRepository(connection, (operation, outcome) => observed.push([operation, outcome]));
  await images.prepare();
  for (const key of ['first', 'middle', 'last', 'gone']) await images.insertIfAbsent(record(key, key === 'gone' ? new Date() : null));
});

afterAll(async () => {
  await connection.dropDatabase();
  await connection.close();
});

describe('ImageRepository lookups by key', () => {
  it('finds one record whole, dates as dates', async () => {
    expect(await images.findAny('middle')).toEqual(record('middle'));
    expect(await images.findLive('gone')).toBeUndefined();
    expect(await images.findAny('unknown')).toBeUndefined();
  });

  it('finds a batch of any size, however many queries it takes, and leaves out what is not there', async () => {
    const keys = Array.from({ length: 2500 }, (_, n) => `absent${n}`);
    keys[0] = 'first';
    keys[1500] = 'middle';
    keys[2499] = 'last';
    keys[2000] = 'gone';
    const found = await images.findMany(keys);
    expect([...found.keys()].sort()).toEqual(['first', 'gone', 'last', 'middle']);
    expect(found.get('last')).toEqual(record('last'));
    expect([...(await images.findLiveMany(keys)).keys()].sort()).toEqual(['first', 'last', 'middle']);
    expect((await images.findLiveMany(['gone'])).size).toBe(0);
    expect((await images.findMany([])).size).toBe(0);
  });
});

describe('call metrics', () => {
  it('are told of every call with its outcome: a duplicate insert is an error, not an outage', async () => {
    observed.length = 0;
    await images.findAny('first');
    expect(await images.insertIfAbsent(record('first'))).toMatchObject({ inserted: false });
    expect(observed).toEqual(expect.arrayContaining([['find', 'ok'], ['insert', 'error']]));
    expect(observed.some(([, outcome]) => outcome === 'unavailable')).toBe(false);
  });
});

