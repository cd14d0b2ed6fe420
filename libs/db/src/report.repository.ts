import type { Connection, mongo } from 'mongoose';
import { AppError } from '@imagehost/errors';
import { callMongo, isDuplicateKeyError, isNamespaceExistsError, type MongoCallObserver } from './backend-errors.js';
import { REPORTS_COLLECTION, type ReportRecord, type ReportStatus } from './report.model.js';

/** A report as the public hands it in, before it is stored as open. */
export type NewReport = Pick<ReportRecord, '_id' | 'imageKey' | 'reporter' | 'reason' | 'details' | 'contact' | 'createdAt'>;

/** What became of a report handed in: stored, or the same client's open report on the image was already there. */
export type OpenOutcome = { readonly opened: true } | { readonly opened: false };

/** The open reports at a glance, for the moderation gauges. */
export interface OpenReportStats {
  readonly open: number;
  /** When the oldest open report was made; `undefined` when none is open. */
  readonly oldestCreatedAt: Date | undefined;
}

/** Everything but the dedup key, which is the index's business. */
const WITHOUT_OPEN_KEY = { projection: { openKey: 0 } } as const;

/**
 * Abuse reports in MongoDB: the only code that reads or writes the `reports` collection,
 * through the driver like the image repository.
 */
export class ReportRepository {
  constructor(
    private readonly connection: Connection,
    private readonly observeCall?: MongoCallObserver,
  ) {}

  private reports(): mongo.Collection<ReportRecord> {
    const db = this.connection.db;
    if (db === undefined) throw new AppError('BACKEND_UNAVAILABLE', 'MongoDB is not connected');
    return db.collection<ReportRecord>(REPORTS_COLLECTION);
  }

  private call<T>(operation: string, run: () => Promise<T>): Promise<T> {
    return callMongo(operation, run, this.observeCall);
  }

  /** Creates the collection's indexes; called once at start-up (after the connection is up). */
  async prepare(): Promise<void> {
    await this.call('connect', () => this.connection.asPromise());
    await this.call('createCollection', async () => {
      await this.connection.db?.createCollection(REPORTS_COLLECTION);
    }).catch((error: unknown) => {
      // A concurrent replica may have created it first.
      if (!isNamespaceExistsError(error)) throw error;
    });
    // Plain, unique and sparse indexes only: what MongoDB and mongo-java-server share.
    await this.call('createIndexes', async () => {
      await this.reports().createIndex({ openKey: 1 }, { unique: true, sparse: true });
      await this.reports().createIndex({ status: 1, _id: 1 });
      await this.reports().createIndex({ imageKey: 1, status: 1 });
    });
  }

  /**
   * Stores a new open report, unless this reporter already has one open on this image (the
   * unique index decides, so concurrent reports from one client on several replicas make one).
   */
  async open(report: NewReport): Promise<OpenOutcome> {
    const record: ReportRecord = { ...report, status: 'open', resolvedAt: null, resolution: null, openKey: `${report.imageKey}:${report.reporter}` };
    try {
      await this.call('insertReport', async () => {
        await this.reports().insertOne(record);
      });
      return { opened: true };
    } catch (error) {
      if (isDuplicateKeyError(error)) return { opened: false };
      throw error;
    }
  }

  /** How many distinct clients have an open report on this image (one open report each). */
  async countOpen(imageKey: string): Promise<number> {
    return this.call('countOpenReports', () => this.reports().countDocuments({ imageKey, status: 'open' }));
  }

  /** Reports with this status, oldest first, `limit` of them after the report `after` (a page's last id). */
  async list(status: ReportStatus, limit: number, after?: string): Promise<ReportRecord[]> {
    const filter: mongo.Filter<ReportRecord> = after === undefined ? { status } : { status, _id: { $gt: after } };
    return this.call('listReports', () => this.reports().find(filter, WITHOUT_OPEN_KEY).sort({ _id: 1 }).limit(limit).toArray());
  }

  async findById(reportId: string): Promise<ReportRecord | undefined> {
    const found = await this.call('findReport', () => this.reports().findOne({ _id: reportId }, WITHOUT_OPEN_KEY));
    return found ?? undefined;
  }

  /** Every report of the image, oldest first (what an operator inspects). */
  async listForImage(imageKey: string): Promise<ReportRecord[]> {
    return this.call('listImageReports', () => this.reports().find({ imageKey }, WITHOUT_OPEN_KEY).sort({ _id: 1 }).toArray());
  }

  /**
   * Resolves every open report of the image at once (an operator decides about the image, not
   * each report): `dismissed` or `actioned`, with a note. Returns how many it resolved.
   */
  async resolveOpen(imageKey: string, status: Exclude<ReportStatus, 'open'>, at: Date, note: string | null): Promise<number> {
    const result = await this.call('resolveReports', () =>
      this.reports().updateMany({ imageKey, status: 'open' }, { $set: { status, resolvedAt: at, resolution: note }, $unset: { openKey: '' } }),
    );
    return result.modifiedCount;
  }

  /** How many reports are open, and since when the oldest waits. */
  async openStats(): Promise<OpenReportStats> {
    const [open, oldest] = await Promise.all([
      this.call('countOpenReports', () => this.reports().countDocuments({ status: 'open' })),
      this.call('oldestOpenReport', () => this.reports().findOne({ status: 'open' }, { projection: { createdAt: 1 }, sort: { _id: 1 } })),
    ]);
    return { open, oldestCreatedAt: oldest?.createdAt };
  }
}
