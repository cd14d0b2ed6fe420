import type { Connection } from 'mongoose';
import { callMongo, isDuplicateKeyError, type MongoCallObserver } from './backend-errors.js';
import { reportModel, type ReportModel, type ReportRecord, type ReportStatus } from './report.model.js';

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

/** Abuse reports in MongoDB: the only code that reads or writes the `reports` collection. */
export class ReportRepository {
  private readonly model: ReportModel;

  constructor(
    private readonly connection: Connection,
    private readonly observeCall?: MongoCallObserver,
  ) {
    this.model = reportModel(connection);
  }

  private call<T>(operation: string, run: () => Promise<T>): Promise<T> {
    return callMongo(operation, run, this.observeCall);
  }

  /** Creates the collection's indexes; called once at start-up (after the connection is up). */
  async prepare(): Promise<void> {
    await this.call('connect', () => this.connection.asPromise());
    await this.call('createCollection', () => this.model.createCollection().then(() => undefined)).catch((error: unknown) => {
      if (!(error instanceof Error && /already exists/i.test(error.message))) throw error;
    });
    await this.call('createIndexes', () => this.model.createIndexes());
  }

  /**
   * Stores a new open report, unless this reporter already has one open on this image (the
   * unique index decides, so concurrent reports from one client on several replicas make one).
   */
  async open(report: NewReport): Promise<OpenOutcome> {
    const record: ReportRecord = { ...report, status: 'open', resolvedAt: null, resolution: null, openKey: `${report.imageKey}:${report.reporter}` };
    try {
      await this.call('insertReport', async () => {
        await this.model.create(record);
      });
      return { opened: true };
    } catch (error) {
      if (isDuplicateKeyError(error)) return { opened: false };
      throw error;
    }
  }

  /** How many distinct clients have an open report on this image (one open report each). */
  async countOpen(imageKey: string): Promise<number> {
    return this.call('countOpenReports', () => this.model.countDocuments({ imageKey, status: 'open' }).exec());
  }

  /** Reports with this status, oldest first, `limit` of them after the report `after` (a page's last id). */
  async list(status: ReportStatus, limit: number, after?: string): Promise<ReportRecord[]> {
    const filter = after === undefined ? { status } : { status, _id: { $gt: after } };
    return this.call('listReports', () => this.model.find(filter, { openKey: 0 }).sort({ _id: 1 }).limit(limit).lean<ReportRecord[]>().exec());
  }

  async findById(reportId: string): Promise<ReportRecord | undefined> {
    const found = await this.call('findReport', () => this.model.findById(reportId, { openKey: 0 }).lean<ReportRecord>().exec());
    return found ?? undefined;
  }

  /** Every report of the image, oldest first (what an operator inspects). */
  async listForImage(imageKey: string): Promise<ReportRecord[]> {
    return this.call('listImageReports', () => this.model.find({ imageKey }, { openKey: 0 }).sort({ _id: 1 }).lean<ReportRecord[]>().exec());
  }

  /**
   * Resolves every open report of the image at once (an operator decides about the image, not
   * each report): `dismissed` or `actioned`, with a note. Returns how many it resolved.
   */
  async resolveOpen(imageKey: string, status: Exclude<ReportStatus, 'open'>, at: Date, note: string | null): Promise<number> {
    const result = await this.call('resolveReports', () =>
      this.model.updateMany({ imageKey, status: 'open' }, { $set: { status, resolvedAt: at, resolution: note }, $unset: { openKey: '' } }).exec(),
    );
    return result.modifiedCount;
  }

  /** How many reports are open, and since when the oldest waits. */
  async openStats(): Promise<OpenReportStats> {
    const [open, oldest] = await Promise.all([
      this.call('countOpenReports', () => this.model.countDocuments({ status: 'open' }).exec()),
      this.call('oldestOpenReport', () => this.model.findOne({ status: 'open' }, { createdAt: 1 }).sort({ _id: 1 }).lean<Pick<ReportRecord, 'createdAt'>>().exec()),
    ]);
    return { open, oldestCreatedAt: oldest?.createdAt };
  }
}
