import mongoose, { type Connection, type mongo } from 'mongoose';
import { AppError } from '@imagehost/errors';
import { callMongo, isDuplicateKeyError, isNamespaceExistsError, type MongoCallObserver } from './backend-errors.js';
import { IMAGES_COLLECTION, type ImageRecord, type Takedown } from './image.model.js';

export interface DatabaseSettings {
  readonly url: string;
  readonly dbName: string;
}

/**
 * How every read and write goes to a replica set (and means nothing more on one server):
 * - writes wait for a majority (`w: 'majority'`, journaled), so an acknowledged upload,
 *   replacement or delete survives the primary's loss instead of being rolled back;
 * - reads go to the primary with read concern `majority`: a lookup after an acknowledged
 *   PATCH sees it (that write was majority-committed before it was acknowledged), and never
 *   sees a write that a failover could still roll back;
 * - writes are retried once across a failover (`retryWrites`): every write here is a single
 *   document's insert, conditional update, findOneAndUpdate or delete, which the server runs
 *   at most once per retry, so a compare-and-set never applies twice.
 * A write that reaches no majority within `wtimeoutMS` fails (503, or the job retries): the
 * handlers are idempotent, so a write that did land is found on the retry.
 * These are set here, not read from MONGO_URL: the contract's read-after-write rests on them.
 */
export const REPLICA_SET_OPTIONS = {
  writeConcern: { w: 'majority', journal: true, wtimeoutMS: 10_000 },
  readConcern: { level: 'majority' },
  readPreference: 'primary',
  retryWrites: true,
  retryReads: true,
} as const;

/**
 * Opens a connection that fails fast instead of queueing commands while MongoDB is away:
 * a request must get a 503 within seconds, not hang. Mongoose holds the connection (its pool,
 * options and lifecycle); the repository reads and writes through the driver's collection.
 */
export function connectDatabase(settings: DatabaseSettings): Connection {
  return mongoose.createConnection(settings.url, {
    dbName: settings.dbName,
    bufferCommands: false,
    serverSelectionTimeoutMS: 3000,
    connectTimeoutMS: 3000,
    // A server that accepts and then never answers must not hold a request forever; 30 s
    // leaves room for the sweep's scans of a large collection.
    socketTimeoutMS: 30_000,
    maxPoolSize: 50,
    ...REPLICA_SET_OPTIONS,
  });
}

/**
 * Matches images the public may still act on at `at`: not expired (no expiry, or a later one)
 * and not hidden. `null` also matches a field a record older than these states lacks.
 */
function publicAt(at: Date): Record<string, unknown> {
  return { hiddenAt: null, $or: [{ expiresAt: null }, { expiresAt: { $gt: at } }] };
}

/** Keys in one `_id: {$in}` query. */
const KEYS_PER_FIND = 1000;

export type InsertOutcome = { readonly inserted: true } | { readonly inserted: false; readonly existing: ImageRecord };

/**
 * Image metadata in MongoDB: the only code that reads or writes the `images` collection.
 * Every call is the MongoDB driver's, on a collection typed by `ImageRecord`: the record is
 * complete and typed where it is built, so mongoose's documents, casting and validation
 * bought nothing but CPU on the hot paths (bench/decisions.md#driver-insert, #find-command).
 */
export class ImageRepository {
  constructor(
    private readonly connection: Connection,
    /** Told of every call, for latency and error metrics. */
    private readonly observeCall?: MongoCallObserver,
  ) {}

  private call<T>(operation: string, run: () => Promise<T>): Promise<T> {
    return callMongo(operation, run, this.observeCall);
  }

  /** Waits for the connection and creates the collection's indexes; called once at start-up. */
  async prepare(): Promise<void> {
    await this.call('connect', () => this.connection.asPromise());
    await this.call('createCollection', async () => {
      await this.connectedDb().createCollection(IMAGES_COLLECTION);
    }).catch((error: unknown) => {
      // A concurrent replica may have created it first.
      if (!isNamespaceExistsError(error)) throw error;
    });
    // Plain indexes only: what MongoDB and the local mongo-java-server both support.
    await this.call('createIndexes', () => this.images().createIndex({ deletedAt: 1 }));
    // The sweep's query for takedowns whose retention is over.
    await this.call('createIndexes', () => this.images().createIndex({ 'takedown.retainUntil': 1 }));
    // The expiry sweep's scan: the images whose expiry has passed, oldest first.
    await this.call('createIndexes', () => this.images().createIndex({ expiresAt: 1 }));
  }

  /** The driver's database handle, once the connection is open. */
  private connectedDb(): NonNullable<Connection['db']> {
    const db = this.connection.db;
    if (db === undefined) throw new AppError('BACKEND_UNAVAILABLE', 'MongoDB is not connected');
    return db;
  }

  private images(): mongo.Collection<ImageRecord> {
    return this.connectedDb().collection<ImageRecord>(IMAGES_COLLECTION);
  }

  /** Succeeds when MongoDB answers (readiness). */
  async ping(): Promise<void> {
    await this.call('ping', async () => {
      await this.connectedDb().admin().ping();
    });
  }

  /** The image as readers see it: `undefined` when unknown or deleted. */
  async findLive(imageKey: string): Promise<ImageRecord | undefined> {
    // By `_id` alone, with the deletion checked here: the one query shape every MongoDB-protocol
    // server answers from the `_id` index.
    const record = await this.findAny(imageKey);
    return record !== undefined && record.deletedAt === null ? record : undefined;
  }

  /** The record whatever its state (deleted included). */
  async findAny(imageKey: string): Promise<ImageRecord | undefined> {
    return (await this.findById({ _id: imageKey }, 1))[0];
  }

  /**
   * Records by `_id` (a filter of at most `limit` of them) in one round trip. Every GET comes
   * here, so it is a plain `find` command: cheaper than the driver's cursor
   * (bench/decisions.md#find-command).
   */
  private async findById(filter: mongo.Filter<ImageRecord>, limit: number): Promise<ImageRecord[]> {
    return this.call('find', async () => {
      const reply = await this.connectedDb().command({ find: IMAGES_COLLECTION, filter, limit, batchSize: limit, singleBatch: true });
      return (reply as { cursor: { firstBatch: ImageRecord[] } }).cursor.firstBatch;
    });
  }

  /**
   * Inserts a new image, or reports the record already there under that key (a redelivered
   * job finds its own earlier insert here).
   */
  async insertIfAbsent(record: ImageRecord): Promise<InsertOutcome> {
    try {
      await this.call('insert', async () => {
        await this.images().insertOne(record);
      });
      return { inserted: true };
    } catch (error) {
      if (!isDuplicateKeyError(error)) throw error;
      const existing = await this.findAny(record._id);
      if (existing === undefined) throw error;
      return { inserted: false, existing };
    }
  }

  /**
   * Switches the image to a new version and new key hashes, only while its update key still
   * hashes to `expectedUpdateKeyHash`, it is neither deleted nor taken down, and at `at`
   * neither expired nor hidden (an expired image never comes back). Returns the record as it
   * was before (to reap its superseded object), or `undefined` when the condition failed.
   */
  async replaceVersion(
    imageKey: string,
    expectedUpdateKeyHash: string,
    next: Pick<ImageRecord, 'versionId' | 'objectKey' | 'contentType' | 'bytes' | 'width' | 'height' | 'sha256' | 'deleteKeyHash' | 'updateKeyHash' | 'updatedAt'> &
      Pick<ImageRecord, 'uploadedSha256' | 'perceptualHash' | 'perceptualDctHash' | 'expiresAt'>,
    at: Date,
  ): Promise<ImageRecord | undefined> {
    const previous = await this.call('replaceVersion', () =>
      this.images().findOneAndUpdate(
        { _id: imageKey, updateKeyHash: expectedUpdateKeyHash, deletedAt: null, takedown: null, ...publicAt(at) },
        { $set: next },
        { returnDocument: 'before' },
      ),
    );
    return previous ?? undefined;
  }

  /**
   * Marks the image deleted, only while its delete key still hashes to `deleteKeyHash`, it is
   * neither deleted already nor taken down (the uploader cannot destroy what an operator
   * quarantined), and at `at` neither expired nor hidden (both are gone for the public, keys
   * included). True when this call deleted it.
   */
  async markDeleted(imageKey: string, deleteKeyHash: string, at: Date): Promise<boolean> {
    const result = await this.call('markDeleted', () =>
      this.images().updateOne({ _id: imageKey, deleteKeyHash, deletedAt: null, takedown: null, ...publicAt(at) }, { $set: { deletedAt: at } }),
    );
    return result.modifiedCount === 1;
  }

  /**
   * Takes a live image down in one compare-and-set: from the write on, every read sees the
   * takedown, and the ingest worker's and DELETE's compare-and-sets (which require no
   * takedown) fail. Returns the record as it is now, or `undefined` when the image is unknown,
   * deleted or already taken down.
   */
  async takeDown(imageKey: string, takedown: Takedown): Promise<ImageRecord | undefined> {
    const record = await this.call('takeDown', () =>
      this.images().findOneAndUpdate({ _id: imageKey, deletedAt: null, takedown: null }, { $set: { takedown } }, { returnDocument: 'after' }),
    );
    return record ?? undefined;
  }

  /**
   * Lifts a takedown whose retention has not ended by `at`. Returns the record as it was
   * before (with its takedown), or `undefined` when there was none to lift.
   */
  async liftTakedown(imageKey: string, at: Date): Promise<ImageRecord | undefined> {
    const record = await this.call('liftTakedown', () =>
      this.images().findOneAndUpdate({ _id: imageKey, deletedAt: null, 'takedown.retainUntil': { $gt: at } }, { $set: { takedown: null } }, { returnDocument: 'before' }),
    );
    return record ?? undefined;
  }

  /** Keys of taken-down images whose retention ended before `before`, earliest first. */
  async findExpiredTakedowns(before: Date, limit: number): Promise<string[]> {
    const records = await this.call('findExpiredTakedowns', () =>
      this.images().find({ 'takedown.retainUntil': { $lt: before } }, { projection: { _id: 1 } }).sort({ 'takedown.retainUntil': 1 }).limit(limit).toArray(),
    );
    return records.map((record) => record._id);
  }

  /** Removes the record of a taken-down image whose retention ended before `before`. True when it removed it. */
  async purgeTakenDown(imageKey: string, before: Date): Promise<boolean> {
    const result = await this.call('purgeTakenDown', () => this.images().deleteOne({ _id: imageKey, 'takedown.retainUntil': { $lt: before } }));
    return result.deletedCount === 1;
  }

  /**
   * Keys of live images whose expiry is `at` or earlier, soonest expired first (the expiry
   * index). Taken-down and hidden images are left to their operator: their bytes may be evidence.
   */
  async findExpired(at: Date, limit: number): Promise<string[]> {
    const records = await this.call('findExpired', () =>
      this.images()
        .find({ expiresAt: { $ne: null, $lte: at }, deletedAt: null, takedown: null, hiddenAt: null }, { projection: { _id: 1 } })
        .sort({ expiresAt: 1 })
        .limit(limit)
        .toArray(),
    );
    return records.map((record) => record._id);
  }

  /**
   * Turns these images into tombstones (deleted at `at`) if they have expired by then, so their
   * purge is a deleted image's: a replacement can no longer apply, and a purge cut short is
   * finished by the sweep. Returns how many it marked.
   */
  async markExpired(imageKeys: readonly string[], at: Date): Promise<number> {
    if (imageKeys.length === 0) return 0;
    const result = await this.call('markExpired', () =>
      this.images().updateMany({ _id: { $in: [...imageKeys] }, deletedAt: null, takedown: null, hiddenAt: null, expiresAt: { $ne: null, $lte: at } }, { $set: { deletedAt: at } }),
    );
    return result.modifiedCount;
  }

  /** Hides a live image for review (`at`: since when). True when this call hid it. */
  async hide(imageKey: string, at: Date): Promise<boolean> {
    const result = await this.call('hide', () => this.images().updateOne({ _id: imageKey, deletedAt: null, hiddenAt: null }, { $set: { hiddenAt: at } }));
    return result.modifiedCount === 1;
  }

  /** Shows a hidden image again (an operator dismissed its reports). True when it was hidden. */
  async unhide(imageKey: string): Promise<boolean> {
    const result = await this.call('unhide', () => this.images().updateOne({ _id: imageKey, hiddenAt: { $ne: null } }, { $set: { hiddenAt: null } }));
    return result.modifiedCount === 1;
  }

  /** Removes the record of a deleted image (never of a live one). True when it removed it. */
  async purgeDeleted(imageKey: string): Promise<boolean> {
    const result = await this.call('purgeDeleted', () => this.images().deleteOne({ _id: imageKey, deletedAt: { $ne: null } }));
    return result.deletedCount === 1;
  }

  /** Keys of images deleted before `before`, oldest first: tombstones a lost purge left. */
  async findTombstones(before: Date, limit: number): Promise<string[]> {
    const records = await this.call('findTombstones', () =>
      this.images().find({ deletedAt: { $ne: null, $lt: before } }, { projection: { _id: 1 } }).sort({ deletedAt: 1 }).limit(limit).toArray(),
    );
    return records.map((record) => record._id);
  }

  /** The records of these images, deleted ones included, by key. */
  async findMany(imageKeys: readonly string[]): Promise<Map<string, ImageRecord>> {
    if (imageKeys.length === 1) {
      // A batch of one (the gateway's lookups when it is not busy): an equality is the
      // simplest plan for any server.
      const record = await this.findAny(imageKeys[0] ?? '');
      return new Map(record === undefined ? [] : [[record._id, record]]);
    }
    // The gateway's batched lookups come here. Every MongoDB-protocol server answers
    // `_id: {$in}` from the `_id` index. Each query's records come back in one reply, which
    // MongoDB caps at 16 MiB: a thousand records are well inside it.
    const found = new Map<string, ImageRecord>();
    for (let at = 0; at < imageKeys.length; at += KEYS_PER_FIND) {
      const keys = imageKeys.slice(at, at + KEYS_PER_FIND);
      for (const record of await this.findById({ _id: { $in: keys } }, keys.length)) found.set(record._id, record);
    }
    return found;
  }

  /** The images as readers see them, by key: unknown and deleted ones are absent. */
  async findLiveMany(imageKeys: readonly string[]): Promise<Map<string, ImageRecord>> {
    const records = await this.findMany(imageKeys);
    for (const [key, record] of records) if (record.deletedAt !== null) records.delete(key);
    return records;
  }

  /** How many records there are, deleted ones included. */
  async countAll(): Promise<number> {
    return this.call('count', () => this.images().countDocuments());
  }
}
