import mongoose, { type Connection } from 'mongoose';
import { callMongo, isDuplicateKeyError } from './backend-errors.js';
import { imageModel, type ImageModel, type ImageRecord } from './image.model.js';

export interface DatabaseSettings {
  readonly url: string;
  readonly dbName: string;
}

/**
 * Opens a connection that fails fast instead of queueing commands while MongoDB is away:
 * a request must get a 503 within seconds, not hang.
 */
export function connectDatabase(settings: DatabaseSettings): Connection {
  return mongoose.createConnection(settings.url, {
    dbName: settings.dbName,
    bufferCommands: false,
    autoIndex: false,
    autoCreate: false,
    serverSelectionTimeoutMS: 3000,
    connectTimeoutMS: 3000,
    maxPoolSize: 50,
  });
}

export type InsertOutcome = { readonly inserted: true } | { readonly inserted: false; readonly existing: ImageRecord };

/** Image metadata in MongoDB: the only code that reads or writes the `images` collection. */
export class ImageRepository {
  private readonly model: ImageModel;

  constructor(private readonly connection: Connection) {
    this.model = imageModel(connection);
  }

  /** Waits for the connection and creates the collection's indexes; called once at start-up. */
  async prepare(): Promise<void> {
    await callMongo('connect', () => this.connection.asPromise());
    await callMongo('createCollection', () => this.model.createCollection().then(() => undefined)).catch((error: unknown) => {
      // A concurrent replica may have created it first.
      if (!(error instanceof Error && /already exists/i.test(error.message))) throw error;
    });
    await callMongo('createIndexes', () => this.model.createIndexes());
  }

  /** The image as readers see it: `undefined` when unknown or deleted. */
  async findLive(imageKey: string): Promise<ImageRecord | undefined> {
    const record = await callMongo('findLive', () => this.model.findOne({ _id: imageKey, deletedAt: null }).lean<ImageRecord>().exec());
    return record ?? undefined;
  }

  /** The record whatever its state (deleted included). */
  async findAny(imageKey: string): Promise<ImageRecord | undefined> {
    const record = await callMongo('findAny', () => this.model.findOne({ _id: imageKey }).lean<ImageRecord>().exec());
    return record ?? undefined;
  }

  /**
   * Inserts a new image, or reports the record already there under that key (a redelivered
   * job finds its own earlier insert here).
   */
  async insertIfAbsent(record: ImageRecord): Promise<InsertOutcome> {
    try {
      await callMongo('insert', () => this.model.create(record));
      return { inserted: true };
    } catch (error) {
      if (!isDuplicateKeyError(error)) throw error;
      const existing = await this.findAny(record._id);
      if (existing === undefined) throw error;
      return { inserted: false, existing };
    }
  }

  /** How many records there are, deleted ones included. */
  async countAll(): Promise<number> {
    return callMongo('count', () => this.model.countDocuments().exec());
  }
}
