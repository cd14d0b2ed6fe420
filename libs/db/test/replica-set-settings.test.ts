import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import mongoose, { type Connection } from 'mongoose';
import { ImageRepository, REPLICA_SET_OPTIONS, connectDatabase, type ImageRecord } from '@imagehost/db';
import { testBackendSettings, uniqueName } from '@imagehost/testing';

// The read and write concerns that make the compare-and-set and read-after-PATCH hold on a
// replica set are those of the client every repository uses. The local MongoDB-protocol
// server has no replica sets: it takes them and the repository works as before.

const settings = testBackendSettings();
let connection: Connection;
let images: ImageRepository;

function record(imageKey: string): ImageRecord {
  const at = new Date();
  return {
    _id: imageKey,
    versionId: `${imageKey}-v1`,
    objectKey: `images/${imageKey}/${imageKey}-v1`,
    contentType: 'image/png',
    bytes: 1,
    width: 1,
    height: 1,
    sha256: 'a'.repeat(64),
    deleteKeyHash: 'd'.repeat(64),
    updateKeyHash: 'u'.repeat(64),
    createdAt: at,
    updatedAt: at,
    deletedAt: null,
  };
}

beforeAll(async () => {
  connection = connectDatabase({ url: settings.mongoUrl, dbName: uniqueName('concerns') });
  images = new ImageRepository(connection);
  await images.prepare();
});

afterAll(async () => {
  await connection.dropDatabase();
  await connection.close();
});

describe('MongoDB concerns', () => {
  it('are majority writes, journaled and bounded, majority reads from the primary, and retried writes', () => {
    const client = connection.getClient();
    expect(client.writeConcern).toMatchObject({ w: 'majority', journal: true, wtimeoutMS: 10_000 });
    expect(client.readConcern).toMatchObject({ level: 'majority' });
    expect(client.readPreference.mode).toBe('primary');
    expect([client.options.retryWrites, client.options.retryReads]).toEqual([true, true]);
  });

  it('go with every write: inserts, replacements, deletions and purges are majority, journaled, bounded', async () => {
    // Every write is the driver's, not mongoose's (bench/decisions.md#driver-insert): what it
    // sends must still carry the client's write concern.
    // A connection of its own with the same concerns, watched from its start (commands are
    // monitored only when the client is made to).
    const watched = mongoose.createConnection(settings.mongoUrl, { dbName: connection.name, ...REPLICA_SET_OPTIONS, monitorCommands: true });
    const client = watched.getClient();
    const writes: [string, unknown][] = [];
    client.on('commandStarted', (event) => {
      if (['insert', 'findAndModify', 'update', 'delete'].includes(event.commandName)) writes.push([event.commandName, event.command.writeConcern]);
    });
    const watchedImages = new ImageRepository(watched);
    const written = record('concerned');
    const replaced = { ...written, versionId: 'concerned-v2', objectKey: 'images/concerned/concerned-v2', updateKeyHash: 'v'.repeat(64) };
    try {
      await watched.asPromise();
      expect(await watchedImages.insertIfAbsent(written)).toEqual({ inserted: true });
      expect(await watchedImages.insertIfAbsent({ ...written, versionId: 'other' })).toMatchObject({ inserted: false, existing: { versionId: 'concerned-v1' } });
      // Stored as written: every field, with its type (dates as dates).
      expect(await images.findAny('concerned')).toEqual(written);
      expect(await watchedImages.replaceVersion('concerned', written.updateKeyHash, replaced, new Date())).toEqual(written);
      expect(await images.findAny('concerned')).toEqual(replaced);
      expect(await watchedImages.markDeleted('concerned', written.deleteKeyHash, new Date())).toBe(true);
      expect(await watchedImages.purgeDeleted('concerned')).toBe(true);
    } finally {
      await watched.close();
    }
    const concern = { w: 'majority', j: true, wtimeout: 10_000 };
    expect(writes).toEqual([
      ['insert', concern],
      ['insert', concern],
      ['findAndModify', concern],
      ['update', concern],
      ['delete', concern],
    ]);
    expect(await images.findAny('concerned')).toBeUndefined();
  });

  it('leave the repository working on a single server: the lookup after a replacement sees it', async () => {
    await images.insertIfAbsent(record('one'));
    const next = { ...record('one'), versionId: 'one-v2', objectKey: 'images/one/one-v2', updateKeyHash: 'v'.repeat(64) };
    expect(await images.replaceVersion('one', 'u'.repeat(64), next, new Date())).toMatchObject({ versionId: 'one-v1' });
    expect(await images.findLive('one')).toMatchObject({ versionId: 'one-v2' });
    expect(await images.replaceVersion('one', 'u'.repeat(64), next, new Date())).toBeUndefined();
    expect(await images.markDeleted('one', 'd'.repeat(64), new Date())).toBe(true);
    expect(await images.purgeDeleted('one')).toBe(true);
    expect(await images.findAny('one')).toBeUndefined();
  });
});
