// The soak's load generator, in a process of its own so its CPU and memory are not the
// services' or the soak driver's: `node soak/dist/load.js '<LoadSettings as JSON>'`.
// Virtual clients run a mixed workload against the gateways round-robin; every response is
// checked against the statuses the contract allows for that operation at that moment, and
// the run ends with ONE JSON line on stdout (a LoadReport): counts, latencies, every
// unexpected answer, and the ledger the driver checks the services' final state against.
import { randomInt } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { errorMessage } from '@imagehost/errors';
import { generateCapabilityKey, generateImageKey } from '@imagehost/keys';
import { fixtures, multipartBody, truncated } from '@imagehost/testing';
import { ClientIdentity, HttpClient, type Reply } from './load-client.js';
import { SHED_BEFORE_BODY, SHED_NOTHING, SHED_UPLOAD, ok, refusal, type Allowed, type Checked, type Shedding } from './load-expectations.js';
import { KeyPool, imagePool, sha256, shortHash, type LiveImage, type PoolImage } from './load-images.js';
import { BODY_SAMPLE_CHARS, LoadRecorder } from './load-recorder.js';
import type { LiveEntry, LoadReport, LoadSettings, Phase, Unexpected } from './load-report.js';

/** Share of acknowledged PATCHes whose old update key is tried once more (it must be dead). */
const STALE_REPLAY_SHARE = 0.25;

class LoadRun {
  private readonly http: HttpClient;
  private readonly begin = performance.now();
  private readonly pool = new KeyPool();
  private readonly hot: LiveImage[] = [];
  /** Images whose last write was answered 202; out of circulation until the end. */
  private readonly pending: LiveImage[] = [];
  private readonly deleted: string[] = [];
  private readonly neverReadable: string[] = [];
  private readonly patchSuccesses = new Map<string, number>();
  private readonly recorder = new LoadRecorder();
  private nextGateway = 0;
  private spikeFrom: number | undefined;
  private spikeTo: number | undefined;
  private rssMax = 0;
  /** When the steady phase began (after the setup uploads), on the `now()` clock. */
  private phasesFrom = 0;
  private images: PoolImage[] = [];
  private brokenJpeg: Buffer = Buffer.alloc(0);
  private gif: Buffer = Buffer.alloc(0);

  constructor(private readonly settings: LoadSettings) {
    this.http = new HttpClient(settings.requestTimeoutMs);
  }

  private now(): number {
    return performance.now() - this.begin;
  }

  private phaseAt(ms: number): Phase {
    if (this.spikeFrom === undefined) return 'steady';
    return ms < this.spikeFrom + this.settings.spikeMs ? 'spike' : 'after';
  }

  /** Whether the spike's clients were at work at any moment of [from, to]. */
  private overlapsSpike(from: number, to: number): boolean {
    return this.spikeFrom !== undefined && this.spikeFrom <= to && (this.spikeTo === undefined || this.spikeTo >= from);
  }

  private note(entry: Omit<Unexpected, 'at' | 'phase'> & { at?: number; phase?: Phase }): void {
    const at = entry.at ?? this.now();
    this.recorder.unexpectedAnswer({ ...entry, phase: entry.phase ?? this.phaseAt(at), at: Math.round(at - this.phasesFrom) / 1000, body: entry.body });
  }

  /**
   * One request, checked: the status must be one `allowed` (or, while the spike is on, one
   * `shed` allows), an error's `code` must be the one expected, and a refusal to retry must
   * say when. Anything else, a timeout included, is recorded as unexpected.
   */
  private async call(
    op: string,
    client: ClientIdentity,
    method: string,
    path: string,
    allowed: Allowed,
    shed: Shedding,
    headers: Record<string, string> = {},
    body?: Buffer,
  ): Promise<Checked> {
    const gateway = this.settings.gateways[this.nextGateway++ % this.settings.gateways.length] ?? '';
    this.recorder.requestSent();
    const started = this.now();
    const phase = this.phaseAt(started);
    let reply: Reply | undefined;
    let failure = 'error';
    try {
      reply = await this.http.send(`${gateway}${path}`, method, { 'x-forwarded-for': client.address(), ...headers }, body);
    } catch (error) {
      const message = errorMessage(error);
      failure = message === 'timeout' ? 'timeout' : `error: ${message}`;
    }
    const ended = this.now();
    const label = reply === undefined ? failure : String(reply.status);
    this.recorder.answered(op, phase, label, ended - started);

    const expected = new Map(allowed);
    if (this.overlapsSpike(started, ended)) {
      if (shed.overload) expected.set(503, 'OVERLOADED');
      if (shed.rateLimit && client.flood) expected.set(429, 'RATE_LIMITED');
    }
    const unexpected = (why: string): Checked => {
      this.note({ op, phase, got: label, expected: [...expected.keys()], why, at: started, gateway, body: reply?.body.subarray(0, BODY_SAMPLE_CHARS).toString('utf8') ?? '' });
      return { reply, expected: false };
    };
    if (reply === undefined) return unexpected('no answer');
    if (!expected.has(reply.status)) return unexpected('status not allowed');
    const code = expected.get(reply.status);
    if (code !== undefined) {
      let got: unknown;
      try {
        got = (JSON.parse(reply.body.toString('utf8')) as { code?: unknown }).code;
      } catch {
        got = undefined;
      }
      if (got !== code) return unexpected(`code ${String(got)} instead of ${code}`);
      if ((reply.status === 429 || reply.status === 503) && reply.headers['retry-after'] === undefined) return unexpected('no Retry-After');
    }
    return { reply, expected: true };
  }

  /** The keys of an upload's or a replacement's answer, or undefined (recorded) when they are missing. */
  private keysOf(op: string, reply: Reply, imageKey?: string): { imageKey: string; deleteKey: string; updateKey: string } | undefined {
    let parsed: Record<string, unknown> | undefined;
    try {
      parsed = JSON.parse(reply.body.toString('utf8')) as Record<string, unknown>;
    } catch {
      parsed = undefined;
    }
    const keys = { imageKey: parsed?.image_key, deleteKey: parsed?.delete_key, updateKey: parsed?.update_key };
    if (typeof keys.imageKey === 'string' && typeof keys.deleteKey === 'string' && typeof keys.updateKey === 'string' && (imageKey === undefined || keys.imageKey === imageKey)) {
      return { imageKey: keys.imageKey, deleteKey: keys.deleteKey, updateKey: keys.updateKey };
    }
    this.note({ op, got: String(reply.status), expected: [reply.status], why: 'no keys in the answer', gateway: '', body: reply.body.toString('utf8') });
    return undefined;
  }

  private randomImage(notSha?: string): PoolImage {
    for (let attempt = 0; attempt < 8; attempt++) {
      const image = this.images[randomInt(this.images.length)] as PoolImage;
      if (image.sha256 !== notSha) return image;
    }
    return this.images.find((image) => image.sha256 !== notSha) as PoolImage;
  }

  private form(image: PoolImage, fields: { name: string; value: string }[] = []): { body: Buffer; headers: Record<string, string> } {
    const { body, contentType } = multipartBody([...fields, { name: 'image', filename: image.filename, contentType: 'application/octet-stream', bytes: image.bytes }]);
    return { body, headers: { 'content-type': contentType } };
  }

  /** A new image: returned when readable at once (201); a 202's goes to `pending`. */
  private async upload(client: ClientIdentity, op = 'upload'): Promise<LiveImage | undefined> {
    const image = this.randomImage();
    const { body, headers } = this.form(image);
    const { reply, expected } = await this.call(op, client, 'POST', '/', ok(201, 202), SHED_UPLOAD, headers, body);
    if (!expected || reply === undefined || (reply.status !== 201 && reply.status !== 202)) return undefined;
    const keys = this.keysOf(op, reply);
    if (keys === undefined) return undefined;
    const live: LiveImage = { ...keys, sha256: image.sha256 };
    if (reply.status === 201) return live;
    this.pending.push(live);
    return undefined;
  }

  private async read(op: string, client: ClientIdentity, image: LiveImage): Promise<void> {
    const { reply, expected } = await this.call(op, client, 'GET', `/${image.imageKey}`, ok(200), SHED_NOTHING);
    if (expected && reply !== undefined && sha256(reply.body) !== image.sha256) {
      this.note({ op, got: '200', expected: [200], why: 'bytes differ from the last acknowledged write', gateway: '', body: '' });
    }
  }

  private countPatchSuccess(updateKey: string): void {
    this.patchSuccesses.set(shortHash(updateKey), (this.patchSuccesses.get(shortHash(updateKey)) ?? 0) + 1);
  }

  /** PATCH with the current update key; 'pending' when answered 202 (the image leaves circulation). */
  private async replace(client: ClientIdentity, image: LiveImage): Promise<'kept' | 'pending'> {
    const next = this.randomImage(image.sha256);
    const oldKey = image.updateKey;
    // Both ways the contract allows to present the key.
    const asHeader = randomInt(2) === 0;
    const { body, headers } = asHeader ? this.form(next) : this.form(next, [{ name: 'update_key', value: oldKey }]);
    const { reply, expected } = await this.call('replace', client, 'PATCH', `/${image.imageKey}`, ok(200, 202), SHED_UPLOAD, asHeader ? { ...headers, 'x-update-key': oldKey } : headers, body);
    if (!expected || reply === undefined || (reply.status !== 200 && reply.status !== 202)) return 'kept';
    if (!this.adoptReplacement('replace', reply, image, oldKey, next.sha256)) return 'kept';
    if (reply.status === 202) {
      this.pending.push(image);
      return 'pending';
    }
    if (Math.random() < STALE_REPLAY_SHARE) return this.replayStaleKey(client, image, oldKey);
    return 'kept';
  }

  /** Follows a successful PATCH: the image now has the new keys and bytes. False when the reply carried no keys. */
  private adoptReplacement(op: string, reply: Reply, image: LiveImage, usedKey: string, sha256: string): boolean {
    const keys = this.keysOf(op, reply, image.imageKey);
    if (keys === undefined) return false;
    this.countPatchSuccess(usedKey);
    image.deleteKey = keys.deleteKey;
    image.updateKey = keys.updateKey;
    image.sha256 = sha256;
    return true;
  }

  /** The update key just used, once more: it is dead, so 403 and nothing changes. */
  private async replayStaleKey(client: ClientIdentity, image: LiveImage, staleKey: string): Promise<'kept' | 'pending'> {
    const next = this.randomImage(image.sha256);
    const { body, headers } = this.form(next);
    const { reply } = await this.call('replace-stale-key', client, 'PATCH', `/${image.imageKey}`, refusal(403, 'KEY_INVALID'), SHED_BEFORE_BODY, { ...headers, 'x-update-key': staleKey }, body);
    if (reply?.status !== 200 && reply?.status !== 202) return 'kept';
    // A second success with one key (already recorded as unexpected): the ledger counts it and
    // follows the server, so the final checks compare against what it now holds.
    if (!this.adoptReplacement('replace-stale-key', reply, image, staleKey, next.sha256)) return 'kept';
    if (reply.status === 200) return 'kept';
    this.pending.push(image);
    return 'pending';
  }

  /** DELETE with the current key, then a read that must already give 404; true when deleted. */
  private async remove(client: ClientIdentity, image: LiveImage): Promise<boolean> {
    const body = Buffer.from(JSON.stringify({ delete_key: image.deleteKey }));
    const { reply } = await this.call('delete', client, 'DELETE', `/${image.imageKey}`, ok(200), SHED_BEFORE_BODY, { 'content-type': 'application/json' }, body);
    if (reply?.status !== 200) return false;
    this.deleted.push(image.imageKey);
    // Read-your-delete, on whichever gateway comes next.
    await this.call('read-deleted', client, 'GET', `/${image.imageKey}`, refusal(404, 'IMAGE_NOT_FOUND'), SHED_NOTHING);
    return true;
  }

  /** One of the contract's refusals, chosen at random, with its one expected status and code. */
  private async badInput(client: ClientIdentity): Promise<void> {
    const kind = randomInt(7);
    switch (kind) {
      case 0: {
        const image = this.randomImage();
        await this.call('bad-not-multipart', client, 'POST', '/', refusal(415, 'UNSUPPORTED_MEDIA_TYPE'), SHED_BEFORE_BODY, { 'content-type': 'image/jpeg' }, image.bytes);
        return;
      }
      case 1: {
        const { body, contentType } = multipartBody([{ name: 'image', filename: 'cat.png', contentType: 'image/png', bytes: this.gif }]);
        await this.call('bad-gif-as-png', client, 'POST', '/', refusal(415, 'UNSUPPORTED_IMAGE_TYPE'), SHED_UPLOAD, { 'content-type': contentType }, body);
        return;
      }
      case 2: {
        const { body, contentType } = multipartBody([{ name: 'image', filename: 'empty.jpg', contentType: 'image/jpeg', bytes: Buffer.alloc(0) }]);
        await this.call('bad-empty-file', client, 'POST', '/', refusal(400, 'EMPTY_FILE'), SHED_UPLOAD, { 'content-type': contentType }, body);
        return;
      }
      case 3: {
        // Refused by the ingest worker, so behind a backlog it may be a 202 that never becomes readable.
        const { body, contentType } = multipartBody([{ name: 'image', filename: 'cut.jpg', contentType: 'image/jpeg', bytes: this.brokenJpeg }]);
        const allowed = new Map<number, string | undefined>([
          [422, 'IMAGE_UNDECODABLE'],
          [202, undefined],
        ]);
        const { reply, expected } = await this.call('bad-truncated-jpeg', client, 'POST', '/', allowed, SHED_UPLOAD, { 'content-type': contentType }, body);
        if (expected && reply?.status === 202) {
          const keys = this.keysOf('bad-truncated-jpeg', reply);
          if (keys !== undefined) this.neverReadable.push(keys.imageKey);
        }
        return;
      }
      case 4:
      case 5: {
        const image = this.pool.take();
        if (image === undefined) break;
        try {
          if (kind === 4) {
            const body = Buffer.from(JSON.stringify({ delete_key: generateCapabilityKey() }));
            await this.call('bad-wrong-delete-key', client, 'DELETE', `/${image.imageKey}`, refusal(403, 'KEY_INVALID'), SHED_BEFORE_BODY, { 'content-type': 'application/json' }, body);
          } else {
            // The right key inside broken JSON: nothing may be deleted.
            const body = Buffer.from(`{"delete_key": "${image.deleteKey}"`);
            await this.call('bad-malformed-delete', client, 'DELETE', `/${image.imageKey}`, refusal(400, 'MALFORMED_BODY'), SHED_BEFORE_BODY, { 'content-type': 'application/json' }, body);
          }
        } finally {
          this.pool.put(image);
        }
        return;
      }
      default:
        break;
    }
    await this.call('bad-unknown-key', client, 'GET', `/${generateImageKey()}`, refusal(404, 'IMAGE_NOT_FOUND'), SHED_NOTHING);
  }

  /** One operation of the mix: uploads 30 %, hot reads 30 %, cold reads 15 %, replaces 8 %, deletes 7 %, bad input 10 %. */
  private async oneOperation(client: ClientIdentity): Promise<void> {
    if (client.flood) {
      const image = await this.upload(client, 'flood-upload');
      if (image !== undefined) this.pool.put(image);
      return;
    }
    const roll = randomInt(100);
    if (roll < 60) {
      const hot = this.hot[randomInt(Math.max(1, this.hot.length))];
      if (roll >= 30 && hot !== undefined) {
        await this.read('hot-read', client, hot);
        return;
      }
      const image = await this.upload(client);
      if (image !== undefined) this.pool.put(image);
      return;
    }
    if (roll >= 90) {
      await this.badInput(client);
      return;
    }
    const image = this.pool.take();
    if (image === undefined) {
      const fresh = await this.upload(client);
      if (fresh !== undefined) this.pool.put(fresh);
      return;
    }
    let keep = true;
    try {
      if (roll < 75) await this.read('cold-read', client, image);
      else if (roll < 83) keep = (await this.replace(client, image)) === 'kept';
      else keep = !(await this.remove(client, image));
    } finally {
      if (keep) this.pool.put(image);
    }
  }

  private async clientLoop(client: ClientIdentity, untilMs: number): Promise<void> {
    while (this.now() < untilMs && this.recorder.requests < this.settings.maxRequests) await this.oneOperation(client);
  }

  /** The images the clients upload, and the bad files they send. */
  private async makeFiles(): Promise<void> {
    this.images = await imagePool(24);
    this.gif = await fixtures.gif();
    this.brokenJpeg = truncated(await fixtures.baselineJpeg(160, 120));
  }

  /** Hot images, and a few live ones so every operation has something to work on at once. */
  private async uploadFirstImages(): Promise<void> {
    const { concurrency, hotKeys } = this.settings;
    const setup = new ClientIdentity(undefined);
    for (let index = 0; index < hotKeys + concurrency * 2 && this.recorder.requests < this.settings.maxRequests; index++) {
      const image = await this.upload(setup, 'setup-upload');
      if (image === undefined) continue;
      if (this.hot.length < hotKeys) this.hot.push(image);
      else this.pool.put(image);
    }
  }

  /**
   * The spike, `steadyBeforeMs` into the phases: half the extra clients are a flood of uploads
   * from a few addresses (the per-client limits must shed it with 429), half a crowd of new
   * addresses running the usual mix (only capacity can shed them: 503, or 202 once the ingest
   * backlog outlasts the wait).
   */
  private async spike(): Promise<void> {
    const { concurrency, steadyBeforeMs, spikeMs, spikeFactor, floodSources } = this.settings;
    await new Promise((resolve) => setTimeout(resolve, steadyBeforeMs));
    this.spikeFrom = this.now();
    const until = this.spikeFrom + spikeMs;
    const floods = Array.from({ length: floodSources }, (_, index) => `192.0.2.${index + 1}`);
    const extra = Array.from({ length: concurrency * (spikeFactor - 1) }, (_, index) =>
      this.clientLoop(new ClientIdentity(index % 2 === 0 ? floods[(index / 2) % floods.length] : undefined), until),
    );
    await Promise.all(extra);
    this.spikeTo = this.now();
  }

  async run(): Promise<LoadReport> {
    const { concurrency, steadyBeforeMs, spikeMs, spikeFactor, steadyAfterMs } = this.settings;
    await this.makeFiles();
    const rssTimer = setInterval(() => (this.rssMax = Math.max(this.rssMax, process.memoryUsage.rss())), 1000);
    await this.uploadFirstImages();

    const start = this.now();
    this.phasesFrom = start;
    const startedAtEpochMs = Date.now();
    const endMs = start + steadyBeforeMs + spikeMs + steadyAfterMs;
    const steady = Array.from({ length: concurrency }, () => this.clientLoop(new ClientIdentity(undefined), endMs));
    const spike = spikeMs > 0 && spikeFactor > 1 ? this.spike() : Promise.resolve();
    const progress = setInterval(() => {
      process.stderr.write(`[load] ${Math.round((this.now() - start) / 1000)} s: ${this.recorder.requests} requests, ${this.recorder.unexpectedCount} unexpected, ${this.pool.size} free images\n`);
    }, 10_000);
    await Promise.all([...steady, spike]);
    clearInterval(progress);
    clearInterval(rssTimer);
    this.http.close();
    return this.report(start, startedAtEpochMs);
  }

  private report(start: number, startedAtEpochMs: number): LoadReport {
    // Every image is in exactly one place: hot, free in the pool, or pending (out of circulation).
    const entry = (pending: boolean, hot: boolean) => (image: LiveImage): LiveEntry => ({ imageKey: image.imageKey, sha256: image.sha256, pending, hot });
    return {
      settings: this.settings,
      startedAtEpochMs,
      durationMs: Math.round(this.now() - start),
      spikeWindowMs: this.spikeFrom === undefined ? undefined : { from: Math.round(this.spikeFrom - start), to: Math.round((this.spikeTo ?? this.now()) - start) },
      requests: this.recorder.requests,
      ops: this.recorder.opStats(),
      phases: this.recorder.phaseStats(),
      unexpectedCount: this.recorder.unexpectedCount,
      unexpected: this.recorder.unexpected,
      ledger: {
        live: [...this.hot.map(entry(false, true)), ...this.pool.all().map(entry(false, false)), ...this.pending.map(entry(true, false))],
        deleted: this.deleted,
        neverReadable: this.neverReadable,
        patchSuccessesByUpdateKey: Object.fromEntries(this.patchSuccesses),
      },
      loadRssMaxBytes: this.rssMax,
    };
  }
}

async function main(): Promise<void> {
  const raw = process.argv[2];
  if (raw === undefined) throw new Error('usage: node soak/dist/load.js \'<settings as JSON>\'');
  const settings = JSON.parse(raw) as LoadSettings;
  const report = await new LoadRun(settings).run();
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
