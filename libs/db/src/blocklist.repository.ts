import type { Connection, mongo } from 'mongoose';
import { AppError } from '@imagehost/errors';
import { callMongo, isDuplicateKeyError, isNamespaceExistsError, type MongoCallObserver } from './backend-errors.js';
import { BLOCKLIST_COLLECTION, type BlocklistEntry, type BlocklistEntryView, type BlocklistKind } from './blocklist.model.js';
import { perceptualTerms, sha256Term, storedPerceptualTerms } from './blocklist-terms.js';

/** A hash to block and where it came from. */
export interface NewBlocklistEntry {
  readonly kind: BlocklistKind;
  readonly hash: string;
  /** A perceptual entry's pHash, matched together with its dHash (`hash`). */
  readonly dctHash?: string;
  readonly imageKey: string | null;
  readonly reason: string;
  readonly note: string;
  readonly createdAt: Date;
}

/** What an upload is looked up by: the SHA-256s of its bytes, and its picture's hash within a distance. */
export interface BlocklistQuery {
  readonly sha256s: readonly string[];
  readonly perceptual?: { readonly hash: string; readonly distance: number };
}

function entryId(entry: Pick<NewBlocklistEntry, 'kind' | 'hash' | 'imageKey'>): string {
  return `${entry.kind}:${entry.hash}:${entry.imageKey ?? '-'}`;
}

/** Entries that can match one upload: every match on SHA-256, all perceptual near-duplicates and a few others. */
const MAX_CANDIDATES = 200;

/**
 * The content blocklist in MongoDB: the only code that reads or writes the `blocklist`
 * collection. Driver calls on a typed collection: every entry is built whole here.
 */
export class BlocklistRepository {
  constructor(
    private readonly connection: Connection,
    private readonly observeCall?: MongoCallObserver,
  ) {}

  private call<T>(operation: string, run: () => Promise<T>): Promise<T> {
    return callMongo(operation, run, this.observeCall);
  }

  private entries(): mongo.Collection<BlocklistEntry> {
    const db = this.connection.db;
    if (db === undefined) throw new AppError('BACKEND_UNAVAILABLE', 'MongoDB is not connected');
    return db.collection<BlocklistEntry>(BLOCKLIST_COLLECTION);
  }

  /** Creates the collection and its indexes; called once at start-up. */
  async prepare(): Promise<void> {
    await this.call('connect', () => this.connection.asPromise());
    await this.call('createCollection', async () => {
      await this.connection.db?.createCollection(BLOCKLIST_COLLECTION);
    }).catch((error: unknown) => {
      // A concurrent replica may have created it first.
      if (!isNamespaceExistsError(error)) throw error;
    });
    // Plain indexes only (the array field's is multikey on MongoDB).
    await this.call('createIndexes', async () => {
      await this.entries().createIndex({ terms: 1 });
      await this.entries().createIndex({ hash: 1 });
      await this.entries().createIndex({ imageKey: 1 });
    });
  }

  /** Adds the entries; one already there (same kind, hash and source) stays as it was. Returns those added. */
  async add(entries: readonly NewBlocklistEntry[]): Promise<BlocklistEntry[]> {
    const added: BlocklistEntry[] = [];
    for (const { dctHash, ...entry } of entries) {
      const terms = entry.kind === 'sha256' ? [sha256Term(entry.hash)] : storedPerceptualTerms(entry.hash);
      // Only a perceptual entry carries a pHash, and never as null (an absent one means dHash alone).
      const document: BlocklistEntry = { _id: entryId(entry), ...entry, ...(entry.kind === 'perceptual' && dctHash !== undefined ? { dctHash } : {}), terms };
      try {
        await this.call('insertBlocklistEntry', async () => {
          await this.entries().insertOne(document);
        });
        added.push(document);
      } catch (error) {
        if (!isDuplicateKeyError(error)) throw error;
      }
    }
    return added;
  }

  /**
   * Entries that may match: every entry with one of the SHA-256s, and every perceptual entry
   * sharing a band with the hash at that distance. Perceptual candidates are not yet matches:
   * the caller checks their distance.
   */
  async findCandidates(query: BlocklistQuery): Promise<BlocklistEntryView[]> {
    const terms = [...new Set(query.sha256s)].map(sha256Term);
    if (query.perceptual !== undefined) terms.push(...perceptualTerms(query.perceptual.hash, query.perceptual.distance));
    if (terms.length === 0) return [];
    return this.call('findBlocklistCandidates', () => this.entries().find<BlocklistEntryView>({ terms: { $in: terms } }, { projection: { terms: 0 } }).limit(MAX_CANDIDATES).toArray());
  }

  /** A page of entries in `_id` order, after `after` when given. */
  async list(limit: number, after?: string): Promise<BlocklistEntryView[]> {
    return this.call('listBlocklist', () =>
      this.entries()
        .find<BlocklistEntryView>(after === undefined ? {} : { _id: { $gt: after } }, { projection: { terms: 0 } })
        .sort({ _id: 1 })
        .limit(limit)
        .toArray(),
    );
  }

  /** Removes every entry of this hash, whatever its source. Returns how many. */
  async removeHash(hash: string): Promise<number> {
    const result = await this.call('removeBlocklistHash', () => this.entries().deleteMany({ hash }));
    return result.deletedCount;
  }

  /** Removes the entries that came from one image (its takedown was lifted). Returns how many. */
  async removeForImage(imageKey: string): Promise<number> {
    const result = await this.call('removeBlocklistImage', () => this.entries().deleteMany({ imageKey }));
    return result.deletedCount;
  }
}
