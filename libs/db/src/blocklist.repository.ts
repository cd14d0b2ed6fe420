import type { Connection } from 'mongoose';
import { callMongo, isDuplicateKeyError, type MongoCallObserver } from './backend-errors.js';
import { blocklistModel, type BlocklistEntry, type BlocklistKind, type BlocklistModel } from './blocklist.model.js';
import { perceptualTerms, sha256Term, storedPerceptualTerms } from './blocklist-terms.js';

/** A hash to block and where it came from. */
export interface NewBlocklistEntry {
  readonly kind: BlocklistKind;
  readonly hash: string;
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

/** The content blocklist in MongoDB: the only code that reads or writes the `blocklist` collection. */
export class BlocklistRepository {
  private readonly model: BlocklistModel;

  constructor(
    private readonly connection: Connection,
    private readonly observeCall?: MongoCallObserver,
  ) {
    this.model = blocklistModel(connection);
  }

  private call<T>(operation: string, run: () => Promise<T>): Promise<T> {
    return callMongo(operation, run, this.observeCall);
  }

  /** Creates the collection and its indexes; called once at start-up. */
  async prepare(): Promise<void> {
    await this.call('connect', () => this.connection.asPromise());
    await this.call('createCollection', () => this.model.createCollection().then(() => undefined)).catch((error: unknown) => {
      if (!(error instanceof Error && /already exists/i.test(error.message))) throw error;
    });
    await this.call('createIndexes', () => this.model.createIndexes());
  }

  /** Adds the entries; one already there (same kind, hash and source) stays as it was. Returns those added. */
  async add(entries: readonly NewBlocklistEntry[]): Promise<BlocklistEntry[]> {
    const added: BlocklistEntry[] = [];
    for (const entry of entries) {
      const terms = entry.kind === 'sha256' ? [sha256Term(entry.hash)] : storedPerceptualTerms(entry.hash);
      const document: BlocklistEntry = { _id: entryId(entry), ...entry, terms };
      try {
        await this.call('insertBlocklistEntry', async () => {
          await this.model.collection.insertOne(document as never);
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
  async findCandidates(query: BlocklistQuery): Promise<BlocklistEntry[]> {
    const terms = [...new Set(query.sha256s)].map(sha256Term);
    if (query.perceptual !== undefined) terms.push(...perceptualTerms(query.perceptual.hash, query.perceptual.distance));
    if (terms.length === 0) return [];
    return this.call('findBlocklistCandidates', () =>
      this.model.find({ terms: { $in: terms } }, { terms: 0 }).limit(MAX_CANDIDATES).lean<BlocklistEntry[]>().exec(),
    );
  }

  /** A page of entries in `_id` order, after `after` when given. */
  async list(limit: number, after?: string): Promise<BlocklistEntry[]> {
    return this.call('listBlocklist', () =>
      this.model
        .find(after === undefined ? {} : { _id: { $gt: after } }, { terms: 0 })
        .sort({ _id: 1 })
        .limit(limit)
        .lean<BlocklistEntry[]>()
        .exec(),
    );
  }

  /** Removes every entry of this hash, whatever its source. Returns how many. */
  async removeHash(hash: string): Promise<number> {
    const result = await this.call('removeBlocklistHash', () => this.model.deleteMany({ hash }).exec());
    return result.deletedCount;
  }

  /** Removes the entries that came from one image (its takedown was lifted). Returns how many. */
  async removeForImage(imageKey: string): Promise<number> {
    const result = await this.call('removeBlocklistImage', () => this.model.deleteMany({ imageKey }).exec());
    return result.deletedCount;
  }
}
