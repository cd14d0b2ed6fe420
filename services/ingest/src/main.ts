import { loadIngestConfig } from '@imagehost/config';
import { errorMessage } from '@imagehost/errors';
import { INGEST_QUEUE, createWorker, ingestJobSchema, parseJobData, toWorkerError, type IngestJobData, type IngestJobResult } from '@imagehost/jobs';
import { createLogger } from '@imagehost/logging';
import { connectBackends, createModerationMetrics, createRegistry, exitOnSignalWhileStarting, serveWorker, startTracing } from '@imagehost/ops';
import { restrictDecodersToJpegAndPng } from './decoders.js';
import { ingestImage, type IngestDeps } from './ingest-image.handler.js';

// The ingest worker: consumes `ingest` jobs (one per accepted upload or replacement),
// validates the bytes with sharp and records the image in MongoDB; produces `reap` jobs for
// refused, raced and superseded versions.

async function main(): Promise<void> {
  startTracing('ingest');
  const config = loadIngestConfig();
  const log = createLogger('ingest', config.logLevel);
  exitOnSignalWhileStarting(log);
  restrictDecodersToJpegAndPng();

  const registry = createRegistry('ingest');
  const backends = connectBackends(config, log, registry);
  const { images, blocklist, objects, queueConnection, reapQueue } = backends;
  // Only the blocklist refusals are counted here; the other moderation counters stay empty.
  const moderation = createModerationMetrics(registry);

  const deps: IngestDeps = {
    images,
    objects,
    reapQueue,
    limits: { maxUploadBytes: config.maxUploadBytes, maxImagePixels: config.maxImagePixels, maxImageSide: config.maxImageSide },
    supersededReapDelayMs: config.supersededReapDelayMs,
    blocklist,
    perceptualMatchDistance: config.perceptualMatchDistance,
    refusedAsBlocked: (match) => moderation.blocklistRefusals.inc({ match }),
  };
  const worker = createWorker<IngestJobData, IngestJobResult, typeof INGEST_QUEUE>(
    INGEST_QUEUE,
    queueConnection,
    async (job) => {
      const started = performance.now();
      try {
        const image = await ingestImage(parseJobData(ingestJobSchema, job.data), deps);
        return { ...image, workMs: performance.now() - started };
      } catch (error) {
        throw toWorkerError(error);
      }
    },
    // A worker that dies mid-job (OOM kill, node loss) has the job redelivered; one that died
    // with the same job three times met a poison image, and the job fails for good.
    { concurrency: config.concurrency, lockDuration: config.jobLockMs, stalledInterval: config.jobLockMs, maxStalledCount: 2 },
  );

  await serveWorker({
    log, config, registry, backends, worker,
    describeJob: (job) => ({ imageKey: job.data.imageKey, kind: job.data.kind, requestId: job.data.requestId }),
    readyFields: { concurrency: config.concurrency, queue: INGEST_QUEUE },
  });
}

main().catch((error: unknown) => {
  process.stderr.write(`ingest: ${errorMessage(error)}\n`);
  process.exit(1);
});
