import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { isExpired, isHidden, type BlocklistEntry, type BlocklistQuery, type ImageRecord, type NewBlocklistEntry, type NewReport, type OpenOutcome, type ReportRecord, type ReportRepository, type ReportStatus, type Takedown } from '@imagehost/db';
import { AppError } from '@imagehost/errors';
import { validateImage, type ImageLimits } from '@imagehost/image-format/validate';
import type { IngestJobData, IngestJobResult } from '@imagehost/jobs';
import type { ObjectMetadata } from '@imagehost/storage';
import type { GatewayDeps } from '../app.js';
import type { PurgeQueue } from '../routes/delete.route.js';
import type { IngestOutcome } from '../uploads/ingest-client.js';
import type { IngestQueueClient, QueuedIngest } from '../uploads/submit-version.js';

// In-memory stand-ins for the gateway's backends, for route tests through `app.inject()`.
// Each keeps the promises the routes rely on: records are copies (a caller cannot change
// what is stored), deletion and replacement are compare-and-sets on the key hash, and an
// outage is the BACKEND_UNAVAILABLE AppError the real clients throw.

type ImageRecords = GatewayDeps['images'];
type ObjectStore = GatewayDeps['objects'];

function outage(backend: string, retryAfterSeconds?: number): AppError {
  return new AppError('BACKEND_UNAVAILABLE', `${backend} is unavailable`, { retryAfterSeconds });
}

/** The image records (MongoDB in production). */
export class FakeImages implements ImageRecords {
  readonly records = new Map<string, ImageRecord>();
  /** While set, every call fails as the repository does while MongoDB is away. */
  down = false;

  async findLive(imageKey: string): Promise<ImageRecord | undefined> {
    this.answer();
    const record = this.records.get(imageKey);
    return record?.deletedAt === null ? { ...record } : undefined;
  }

  /** The record whatever its state (the admin API's view). */
  async findAny(imageKey: string): Promise<ImageRecord | undefined> {
    this.answer();
    const record = this.records.get(imageKey);
    return record === undefined ? undefined : { ...record };
  }

  async findLiveMany(imageKeys: readonly string[]): Promise<Map<string, ImageRecord>> {
    this.answer();
    const found = new Map<string, ImageRecord>();
    for (const key of imageKeys) {
      const record = this.records.get(key);
      if (record?.deletedAt === null) found.set(key, { ...record });
    }
    return found;
  }

  async markDeleted(imageKey: string, deleteKeyHash: string, at: Date): Promise<boolean> {
    this.answer();
    const record = this.records.get(imageKey);
    // As the repository's condition: a taken-down, expired or hidden image's keys no longer work.
    if (
      record === undefined ||
      record.deletedAt !== null ||
      record.takedown != null ||
      record.deleteKeyHash !== deleteKeyHash ||
      isExpired(record, at.getTime()) ||
      isHidden(record)
    ) {
      return false;
    }
    this.records.set(imageKey, { ...record, deletedAt: at });
    return true;
  }

  async unhide(imageKey: string): Promise<boolean> {
    this.answer();
    const record = this.records.get(imageKey);
    if (record === undefined || !isHidden(record)) return false;
    this.records.set(imageKey, { ...record, hiddenAt: null });
    return true;
  }

  async hide(imageKey: string, at: Date): Promise<boolean> {
    this.answer();
    const record = this.records.get(imageKey);
    if (record === undefined || record.deletedAt !== null || isHidden(record)) return false;
    this.records.set(imageKey, { ...record, hiddenAt: at });
    return true;
  }

  async takeDown(imageKey: string, takedown: Takedown): Promise<ImageRecord | undefined> {
    this.answer();
    const record = this.records.get(imageKey);
    if (record === undefined || record.deletedAt !== null || record.takedown != null) return undefined;
    const down = { ...record, takedown };
    this.records.set(imageKey, down);
    return { ...down };
  }

  async liftTakedown(imageKey: string, at: Date): Promise<ImageRecord | undefined> {
    this.answer();
    const record = this.records.get(imageKey);
    if (record === undefined || record.deletedAt !== null || record.takedown == null || record.takedown.retainUntil <= at) return undefined;
    this.records.set(imageKey, { ...record, takedown: null });
    return { ...record };
  }

  /** What the ingest worker writes: a new image, unless the key is taken. */
  insertIfAbsent(record: ImageRecord): boolean {
    this.answer();
    if (this.records.has(record._id)) return false;
    this.records.set(record._id, { ...record });
    return true;
  }

  /** What the ingest worker writes for a replacement: only while the update key hash is still `expected`. */
  replaceVersion(imageKey: string, expected: string, next: Partial<ImageRecord>): ImageRecord | undefined {
    this.answer();
    const record = this.records.get(imageKey);
    if (record === undefined || record.deletedAt !== null || record.takedown != null || record.updateKeyHash !== expected) return undefined;
    this.records.set(imageKey, { ...record, ...next });
    return record;
  }

  private answer(): void {
    if (this.down) throw outage('MongoDB');
  }
}

export interface StoredObject {
  readonly bytes: Buffer;
  readonly contentType: string;
  readonly metadata: ObjectMetadata;
}

/** The object store (S3 in production). */
export class FakeObjects implements ObjectStore {
  readonly objects = new Map<string, StoredObject>();
  /** While set, every call fails as the store does while S3 is away. */
  down = false;
  /** Reads of whole objects and ranges, in order (to see what the version cache spared). */
  readonly reads: string[] = [];

  async putObject(key: string, bytes: Buffer, contentType: string, metadata: ObjectMetadata = {}): Promise<string> {
    this.answer();
    this.objects.set(key, { bytes: Buffer.from(bytes), contentType, metadata: { ...metadata } });
    return createHash('sha256').update(bytes).digest('hex');
  }

  async removeObject(key: string): Promise<void> {
    this.answer();
    this.objects.delete(key);
  }

  async copyObject(sourceKey: string, targetKey: string): Promise<boolean> {
    this.answer();
    const stored = this.objects.get(sourceKey);
    if (stored === undefined) return false;
    this.objects.set(targetKey, { ...stored, bytes: Buffer.from(stored.bytes) });
    return true;
  }

  async moveObject(sourceKey: string, targetKey: string): Promise<boolean> {
    if (!(await this.copyObject(sourceKey, targetKey))) return false;
    await this.removeObject(sourceKey);
    return true;
  }

  async listObjectKeys(prefix = ''): Promise<string[]> {
    this.answer();
    return [...this.objects.keys()].filter((key) => key.startsWith(prefix)).sort();
  }

  async readObject(key: string, maxBytes: number): Promise<Buffer | undefined> {
    this.answer();
    this.reads.push(key);
    const stored = this.objects.get(key);
    if (stored === undefined) return undefined;
    if (stored.bytes.length > maxBytes) throw new Error(`object ${key} is larger than ${maxBytes} bytes`);
    return Buffer.from(stored.bytes);
  }

  async openObject(key: string, range?: { offset: number; length: number }): Promise<Readable | undefined> {
    this.answer();
    this.reads.push(key);
    const stored = this.objects.get(key);
    if (stored === undefined) return undefined;
    const bytes = range === undefined ? stored.bytes : stored.bytes.subarray(range.offset, range.offset + range.length);
    return Readable.from([Buffer.from(bytes)]);
  }

  private answer(): void {
    if (this.down) throw outage('S3');
  }
}

/**
 * The reports collection (MongoDB in production), answering scripted outcomes: whether a
 * report is opened or found already open (the unique index decides that in production), how
 * many open reporters an image has, or an outage.
 */
export class FakeReports implements Pick<ReportRepository, 'open' | 'countOpen' | 'list' | 'findById' | 'resolveOpen'> {
  /** Every report the route handed in, in order. */
  readonly handedIn: NewReport[] = [];
  /** What `open` answers next (default: opened). */
  nextOutcome: OpenOutcome = { opened: true };
  /** What `countOpen` answers. */
  openReporters = 1;
  /** While set, every call fails as the repository does while MongoDB is away. */
  down = false;

  async open(report: NewReport): Promise<OpenOutcome> {
    if (this.down) throw outage('MongoDB');
    this.handedIn.push({ ...report });
    return this.nextOutcome;
  }

  async countOpen(): Promise<number> {
    if (this.down) throw outage('MongoDB');
    return this.openReporters;
  }

  /** What `list` answers (the queue as the repository would page it), and the calls it got. */
  page: ReportRecord[] = [];
  readonly listed: { status: ReportStatus; limit: number; after: string | undefined }[] = [];

  async list(status: ReportStatus, limit: number, after?: string): Promise<ReportRecord[]> {
    if (this.down) throw outage('MongoDB');
    this.listed.push({ status, limit, after });
    return this.page.map((report) => ({ ...report }));
  }

  /** What `findById` answers, by id. */
  readonly byId = new Map<string, ReportRecord>();

  async findById(reportId: string): Promise<ReportRecord | undefined> {
    if (this.down) throw outage('MongoDB');
    const found = this.byId.get(reportId);
    return found === undefined ? undefined : { ...found };
  }

  /** What `resolveOpen` answers (how many it resolved), and the calls it got. */
  resolvedCount = 1;
  readonly resolutions: { imageKey: string; status: string; at: Date; note: string | null }[] = [];

  async resolveOpen(imageKey: string, status: Exclude<ReportStatus, 'open'>, at: Date, note: string | null): Promise<number> {
    if (this.down) throw outage('MongoDB');
    this.resolutions.push({ imageKey, status, at, note });
    return this.resolvedCount;
  }
}

/** The content blocklist (MongoDB in production): entries by id, found by their hashes. */
export class FakeBlocklist {
  readonly entries = new Map<string, BlocklistEntry>();
  /** While set, every call fails as the repository does while MongoDB is away. */
  down = false;

  async findCandidates(query: BlocklistQuery): Promise<BlocklistEntry[]> {
    this.answer();
    // Exact and identical perceptual hashes only: the band lookup itself is the repository's (tested on MongoDB).
    return [...this.entries.values()].filter((entry) => query.sha256s.includes(entry.hash) || entry.hash === query.perceptual?.hash);
  }

  async add(entries: readonly NewBlocklistEntry[]): Promise<BlocklistEntry[]> {
    this.answer();
    const added: BlocklistEntry[] = [];
    for (const entry of entries) {
      const id = `${entry.kind}:${entry.hash}:${entry.imageKey ?? '-'}`;
      if (this.entries.has(id)) continue;
      const stored = { _id: id, ...entry, terms: [] };
      this.entries.set(id, stored);
      added.push(stored);
    }
    return added;
  }

  async list(limit: number, after?: string): Promise<BlocklistEntry[]> {
    this.answer();
    return [...this.entries.values()]
      .filter((entry) => after === undefined || entry._id > after)
      .sort((a, b) => (a._id < b._id ? -1 : 1))
      .slice(0, limit);
  }

  async removeHash(hash: string): Promise<number> {
    return this.removeWhere((entry) => entry.hash === hash);
  }

  async removeForImage(imageKey: string): Promise<number> {
    return this.removeWhere((entry) => entry.imageKey === imageKey);
  }

  private removeWhere(matches: (entry: BlocklistEntry) => boolean): number {
    this.answer();
    const ids = [...this.entries.values()].filter(matches).map((entry) => entry._id);
    for (const id of ids) this.entries.delete(id);
    return ids.length;
  }

  private answer(): void {
    if (this.down) throw outage('MongoDB');
  }
}

/** Purges queued for the reaper (the `reap` queue in production). */
export class FakePurges implements PurgeQueue {
  readonly purged: string[] = [];
  /** While set, queueing fails (Redis away); the deletion itself must still stand. */
  down = false;

  /** While set, queueing never answers (Redis hung). */
  hung = false;

  async purgeImage(imageKey: string): Promise<void> {
    if (this.hung) return new Promise<void>(() => undefined);
    if (this.down) throw outage('Redis');
    this.purged.push(imageKey);
  }
}

/**
 * The ingest queue with a worker behind it. While `worker` is `running`, a job is ingested
 * during the gateway's wait as the real worker does it: the bytes are validated (415/422 on
 * refusal, the refused object removed as the reaper would), then recorded with a
 * compare-and-set. While it is `behind`, jobs stay queued and the wait ends `pending` (202).
 */
export class FakeIngest implements IngestQueueClient {
  readonly queued: IngestJobData[] = [];
  worker: 'running' | 'behind' = 'running';
  /** While set, the queue is unreachable: refused at once, as with Redis away. */
  down = false;
  private scripted: AppError | undefined;

  constructor(
    private readonly images: FakeImages,
    private readonly objects: FakeObjects,
    private readonly limits: ImageLimits,
  ) {}

  /** The worker refuses the next job with `error` instead of ingesting it (a raced key, say). */
  refuseNext(error: AppError): void {
    this.scripted = error;
  }

  assertAvailable(): void {
    if (this.down) throw outage('the ingest queue', 5);
  }

  async enqueue(data: IngestJobData): Promise<QueuedIngest> {
    this.assertAvailable();
    this.queued.push(data);
    return { id: `${data.imageKey}.${data.versionId}` };
  }

  async waitForResult(job: QueuedIngest, waitMs: number): Promise<IngestOutcome> {
    const data = this.queued.find((queued) => `${queued.imageKey}.${queued.versionId}` === job.id);
    if (data === undefined) throw new Error(`no job ${String(job.id)} was queued`);
    if (this.worker === 'behind' || waitMs <= 0) return { state: 'pending' };
    this.queued.splice(this.queued.indexOf(data), 1);
    return { state: 'done', result: await this.ingest(data) };
  }

  /** The worker catches up: ingests every queued job, as it would after a 202. */
  async catchUp(): Promise<void> {
    for (const data of this.queued.splice(0)) await this.ingest(data).catch(() => undefined);
  }

  private async ingest(data: IngestJobData): Promise<IngestJobResult> {
    const refusal = this.scripted;
    this.scripted = undefined;
    const bytes = await this.objects.readObject(data.objectKey, Number.MAX_SAFE_INTEGER);
    try {
      if (refusal !== undefined) throw refusal;
      if (bytes === undefined) throw new AppError('CONFLICT', `the uploaded object ${data.objectKey} is gone`);
      const image = await validateImage(bytes, this.limits);
      const version = {
        versionId: data.versionId,
        objectKey: data.objectKey,
        contentType: image.contentType,
        bytes: bytes.length,
        width: image.width,
        height: image.height,
        sha256: createHash('sha256').update(bytes).digest('hex'),
        deleteKeyHash: data.deleteKeyHash,
        updateKeyHash: data.updateKeyHash,
        updatedAt: new Date(data.acceptedAt),
        ...(data.expiresAt === undefined ? {} : { expiresAt: data.expiresAt === null ? null : new Date(data.expiresAt) }),
      };
      if (data.kind === 'create') {
        if (!this.images.insertIfAbsent({ _id: data.imageKey, expiresAt: null, ...version, createdAt: new Date(data.acceptedAt), deletedAt: null })) {
          throw new AppError('CONFLICT', `image key ${data.imageKey} already belongs to another image`);
        }
      } else {
        const previous = this.images.replaceVersion(data.imageKey, data.expectedUpdateKeyHash, version);
        if (previous === undefined) throw new AppError('CONFLICT', 'the update key was used by a concurrent replacement');
        this.objects.objects.delete(previous.objectKey);
      }
      const { contentType, width, height, sha256 } = version;
      return { imageKey: data.imageKey, versionId: data.versionId, contentType, bytes: bytes.length, width, height, sha256, workMs: 0 };
    } catch (error) {
      if (error instanceof AppError && !error.retryable) this.objects.objects.delete(data.objectKey);
      throw error;
    }
  }
}
