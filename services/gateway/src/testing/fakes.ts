import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { isExpired, isHidden, type BlocklistEntry, type BlocklistQuery, type ImageRecord, type NewBlocklistEntry, type NewReport, type OpenOutcome, type ReportRecord, type ReportRepository, type ReportStatus, type Takedown } from '@imagehost/db';
import { AppError } from '@imagehost/errors';
import { ingestJobId, type IngestJobData, type IngestJobResult } from '@imagehost/jobs';
import type { ObjectMetadata } from '@imagehost/storage';
import type { GatewayDeps } from '../app.js';
import type { PurgeQueue } from '../routes/delete.route.js';
import type { IngestOutcome } from '../uploads/ingest-client.js';
import type { IngestQueueClient, QueuedIngest } from '../uploads/submit-version.js';

// Stand-ins for the gateway's backends, for route tests through `app.inject()`: plain
// in-memory stores shaped like the interfaces the routes use, and an ingest queue that answers
// what the test scripted. Each keeps the promises of its interface: records are copies (a caller
// cannot change what is stored), a deletion applies only with the record's own delete key hash,
// and an outage is the BACKEND_UNAVAILABLE AppError the real clients throw.

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

  /** Empty and reachable again, for the next test on a shared gateway. */
  reset(): void {
    this.records.clear();
    this.down = false;
  }

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

  /** Empty and reachable again, for the next test on a shared gateway. */
  reset(): void {
    this.objects.clear();
    this.reads.length = 0;
    this.down = false;
  }

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

  /** Nothing queued, and answering again, for the next test on a shared gateway. */
  reset(): void {
    this.purged.length = 0;
    this.down = false;
    this.hung = false;
  }

  async purgeImage(imageKey: string): Promise<void> {
    if (this.hung) return new Promise<void>(() => undefined);
    if (this.down) throw outage('Redis');
    this.purged.push(imageKey);
  }
}

/** What the ingest worker answers a job, as a route test scripts it. */
export type IngestAnswer =
  /** Recorded, with the dimensions the worker read (type, size and digest are the stored object's). */
  | { readonly outcome: 'stored'; readonly width: number; readonly height: number }
  /** Refused (415, 422, a raced key's 409…): the worker records nothing and hands the object to the reaper. */
  | { readonly outcome: 'refused'; readonly error: AppError }
  /** Still queued or running when the gateway's wait ends (202). */
  | { readonly outcome: 'pending' }
  /** Failed for good without a refusal (its retries ran out): the client reports an outage. */
  | { readonly outcome: 'failed' };

/** A stored answer for tests that do not look at the dimensions. */
export const STORED = { outcome: 'stored', width: 1, height: 1 } as const satisfies IngestAnswer;

/**
 * The ingest queue as the gateway sees it (an `IngestClient` in production), answering each
 * job as the test scripted it: nothing here validates an image or checks a key. A `stored`
 * answer puts the record the worker would have written into the fake records, so reads see
 * the image; a refusal or a raced key is what a test scripts, never what this decides.
 */
export class FakeIngest implements IngestQueueClient {
  /** Every job enqueued, in order. */
  readonly jobs: IngestJobData[] = [];
  /** Jobs enqueued and not answered yet (`pending`). */
  readonly queued: IngestJobData[] = [];
  /** What the worker answers each job that `answerNext` scripted nothing for. */
  answer: IngestAnswer = STORED;
  /** While set, the queue is unreachable: refused at once, as with Redis away. */
  down = false;
  private readonly scripted: IngestAnswer[] = [];

  constructor(
    private readonly images: FakeImages,
    private readonly objects: FakeObjects,
  ) {}

  /** No jobs, nothing scripted, reachable, answering `stored`: for the next test on a shared gateway. */
  reset(): void {
    this.jobs.length = 0;
    this.queued.length = 0;
    this.scripted.length = 0;
    this.answer = STORED;
    this.down = false;
  }

  /** The answers to the next jobs, in order; later jobs get `answer`. */
  answerNext(...answers: IngestAnswer[]): void {
    this.scripted.push(...answers);
  }

  assertAvailable(): void {
    if (this.down) throw outage('the ingest queue', 5);
  }

  async enqueue(data: IngestJobData): Promise<QueuedIngest> {
    this.assertAvailable();
    this.jobs.push(data);
    this.queued.push(data);
    return { id: ingestJobId(data) };
  }

  async waitForResult(job: QueuedIngest, waitMs: number): Promise<IngestOutcome> {
    const data = this.queued.find((queued) => ingestJobId(queued) === job.id);
    if (data === undefined) throw new Error(`no job ${String(job.id)} was queued`);
    if (waitMs <= 0) return { state: 'pending' };
    const answer = this.scripted.shift() ?? this.answer;
    if (answer.outcome === 'pending') return { state: 'pending' };
    this.queued.splice(this.queued.indexOf(data), 1);
    return { state: 'done', result: this.answerWith(data, answer) };
  }

  /** The worker catches up: answers every queued job with `answer`, as it would after a 202. */
  catchUp(answer: Exclude<IngestAnswer, { outcome: 'pending' }> = STORED): void {
    for (const data of this.queued.splice(0)) {
      try {
        this.answerWith(data, answer);
      } catch {
        // A refused job is answered to nobody: its client already has its 202.
      }
    }
  }

  private answerWith(data: IngestJobData, answer: Exclude<IngestAnswer, { outcome: 'pending' }>): IngestJobResult {
    switch (answer.outcome) {
      case 'refused':
        throw answer.error;
      case 'failed':
        throw new AppError('BACKEND_UNAVAILABLE', 'ingest did not finish: its attempts ran out');
      case 'stored':
        return this.record(data, answer);
    }
  }

  /** The record a stored answer leaves: the job's version, as the worker writes it. */
  private record(data: IngestJobData, facts: { width: number; height: number }): IngestJobResult {
    const stored = this.objects.objects.get(data.objectKey);
    if (stored === undefined) throw new Error(`the test scripted 'stored' for ${data.objectKey}, which is not in the object store`);
    const result: IngestJobResult = {
      imageKey: data.imageKey,
      versionId: data.versionId,
      contentType: stored.contentType === 'image/png' ? 'image/png' : 'image/jpeg',
      bytes: stored.bytes.length,
      width: facts.width,
      height: facts.height,
      sha256: createHash('sha256').update(stored.bytes).digest('hex'),
      workMs: 0,
    };
    const version = {
      versionId: data.versionId,
      objectKey: data.objectKey,
      contentType: result.contentType,
      bytes: result.bytes,
      width: result.width,
      height: result.height,
      sha256: result.sha256,
      deleteKeyHash: data.deleteKeyHash,
      updateKeyHash: data.updateKeyHash,
      updatedAt: new Date(data.acceptedAt),
      ...(data.expiresAt === undefined ? {} : { expiresAt: data.expiresAt === null ? null : new Date(data.expiresAt) }),
    };
    const previous = this.images.records.get(data.imageKey);
    if (data.kind === 'create') {
      this.images.records.set(data.imageKey, { _id: data.imageKey, expiresAt: null, ...version, createdAt: new Date(data.acceptedAt), deletedAt: null });
    } else if (previous === undefined) {
      throw new Error(`the test scripted 'stored' for a replacement of ${data.imageKey}, which has no record`);
    } else {
      this.images.records.set(data.imageKey, { ...previous, ...version });
    }
    return result;
  }
}
