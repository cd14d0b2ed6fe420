import type { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { FastifyRequest } from 'fastify';
import { AppError, errorMessage } from '@imagehost/errors';
import { SIGNATURE_BYTES, detectImageType, isAllowedFilename, type ImageContentType } from '@imagehost/image-format';
import type { ByteBudget, Reservation } from './byte-budget.js';

/** The file part every upload must carry. */
export const IMAGE_FIELD = 'image';
/** Room for multipart framing and small fields on top of the file itself. */
const MULTIPART_OVERHEAD_BYTES = 64 * 1024;
const RETRY_AFTER_OVERLOADED_SECONDS = 2;
/** What a file must have sent before its upload may claim the whole announced length. */
const CLAIM_AFTER_BYTES = 256 * 1024;
/** The longest filename common file systems allow, in UTF-8 bytes. */
const MAX_FILENAME_BYTES = 255;

export interface ImageUpload {
  readonly bytes: Buffer;
  readonly contentType: ImageContentType;
  /** Text fields sent beside the file (for example `update_key`), first value of each. */
  readonly fields: ReadonlyMap<string, string>;
  /** Returns the upload's bytes to the memory budget; call once they are stored. */
  readonly release: () => void;
}

export interface UploadLimits {
  readonly maxUploadBytes: number;
  readonly budget: ByteBudget;
  /** The longest the body may send nothing before the upload is refused with 408. */
  readonly idleTimeoutMs: number;
}

/**
 * The file's bytes as they arrive: in pieces, until `intoOneBuffer` gives them one buffer of
 * the announced length, so a large upload is not held twice while its pieces are joined.
 */
class ByteCollector {
  private chunks: Buffer[] = [];
  private whole: Buffer | undefined;
  private size = 0;

  get length(): number {
    return this.size;
  }

  intoOneBuffer(capacity: number): void {
    if (this.whole !== undefined || capacity < this.size) return;
    this.whole = Buffer.allocUnsafe(capacity);
    Buffer.concat(this.chunks, this.size).copy(this.whole);
    this.chunks = [];
  }

  append(chunk: Buffer): void {
    const next = this.size + chunk.length;
    if (this.whole !== undefined && next <= this.whole.length) {
      chunk.copy(this.whole, this.size);
    } else {
      if (this.whole !== undefined) this.chunks = [this.whole.subarray(0, this.size)];
      this.whole = undefined;
      this.chunks.push(chunk);
    }
    this.size = next;
  }

  /** Forgets the bytes (a refused upload), keeping the count. */
  discard(): void {
    this.chunks = [];
    this.whole = undefined;
  }

  bytes(): Buffer {
    return this.whole?.subarray(0, this.size) ?? Buffer.concat(this.chunks, this.size);
  }
}

/**
 * Why a filename cannot be a real file's name: too long, or not text (invalid UTF-8 arrives
 * decoded as U+FFFD; control characters). Only its extension is ever used — never as a path —
 * so path-like names and quotes are fine.
 */
function filenameProblem(filename: string | undefined): string | undefined {
  if (filename === undefined) return undefined;
  if (Buffer.byteLength(filename) > MAX_FILENAME_BYTES) return `the filename is longer than ${MAX_FILENAME_BYTES} bytes`;
  // eslint-disable-next-line no-control-regex -- control characters are what this looks for
  if (filename.includes('\uFFFD') || /[\u0000-\u001f\u007f]/.test(filename)) return 'the filename is not valid UTF-8 text';
  return undefined;
}

/** Reads and discards the rest of a part, so the parser can reach the parts after it. */
async function drain(stream: Readable): Promise<void> {
  stream.resume();
  await finished(stream);
}

function overloaded(): AppError {
  return new AppError('OVERLOADED', 'the server is receiving too many uploads at once; retry shortly', {
    retryAfterSeconds: RETRY_AFTER_OVERLOADED_SECONDS,
  });
}

/**
 * Rejects with 408 once `stream` has sent no data for `idleMs`. Attach it only after the
 * stream is piped to its consumer: a 'data' listener alone would start it flowing.
 */
function watchForSilence(stream: Readable, idleMs: number): { silent: Promise<never>; stop: () => void } {
  let timer: NodeJS.Timeout | undefined;
  let onData = (): void => undefined;
  const silent = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new AppError('UPLOAD_TIMEOUT', `the upload sent nothing for ${idleMs} ms`)), idleMs);
    onData = () => timer?.refresh();
    stream.on('data', onData);
  });
  return {
    silent,
    stop: () => {
      clearTimeout(timer);
      stream.off('data', onData);
    },
  };
}

/** Errors of @fastify/multipart and busboy, turned into the contract's refusals. */
function multipartRefusal(error: unknown): AppError {
  if (error instanceof AppError) return error;
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  switch (code) {
    case 'FST_REQ_FILE_TOO_LARGE':
      return new AppError('IMAGE_TOO_LARGE', 'the image is larger than the upload limit');
    case 'FST_PARTS_LIMIT':
    case 'FST_FILES_LIMIT':
    case 'FST_FIELDS_LIMIT':
      return new AppError('TOO_MANY_PARTS', 'the form has too many parts: send one file part named "image"');
    case 'FST_PROTO_VIOLATION':
      return new AppError('MALFORMED_MULTIPART', 'a form field name is not allowed');
    case 'FST_INVALID_MULTIPART_CONTENT_TYPE':
      return new AppError('UNSUPPORTED_MEDIA_TYPE', 'send the image as multipart/form-data');
    default:
      return new AppError('MALFORMED_MULTIPART', `the multipart body could not be read: ${errorMessage(error)}`);
  }
}

/**
 * Receives the one `image` file part of a multipart request into memory, checking the
 * filename extension, the size limit, the memory budget and the magic bytes on the way, so
 * a refusal happens before anything is stored. Every part is read to the end even after a
 * refusal, so the client always gets its answer instead of a reset connection.
 */
export async function readImageUpload(request: FastifyRequest, limits: UploadLimits): Promise<ImageUpload> {
  if (!request.isMultipart()) {
    throw new AppError('UNSUPPORTED_MEDIA_TYPE', 'send the image as multipart/form-data with a file part named "image"');
  }
  const { maxUploadBytes, budget } = limits;
  const declaredLength = Number(request.headers['content-length'] ?? Number.NaN);
  if (declaredLength > maxUploadBytes + MULTIPART_OVERHEAD_BYTES) {
    throw new AppError('IMAGE_TOO_LARGE', `the image is larger than the upload limit of ${maxUploadBytes} bytes`);
  }

  // Bytes are charged to the budget as they arrive: announcing a length costs nothing, so
  // sockets that announce large uploads and go silent cannot spend it (issue 14).
  const reservation = budget.reserve();
  const expectedBytes = Number.isFinite(declaredLength) ? Math.min(declaredLength, maxUploadBytes) : undefined;
  const receiving = receiveParts(request, maxUploadBytes, reservation, expectedBytes);
  // After a timeout the parser is abandoned; whatever it ends with is no longer anyone's answer.
  receiving.catch(() => undefined);
  const watch = watchForSilence(request.raw, limits.idleTimeoutMs);
  try {
    const received = await Promise.race([receiving, watch.silent]);
    return { ...received, release: () => reservation.release() };
  } catch (error) {
    reservation.release();
    throw error;
  } finally {
    watch.stop();
  }
}

async function receiveParts(
  request: FastifyRequest,
  maxUploadBytes: number,
  reservation: Reservation,
  expectedBytes: number | undefined,
): Promise<Omit<ImageUpload, 'release'>> {
  const fields = new Map<string, string>();
  let refusal: AppError | undefined;
  let image: { collector: ByteCollector; contentType: ImageContentType | undefined } | undefined;
  let imageParts = 0;
  // A refused upload's bytes go back to the budget at once, not after the rest of its body has
  // been read: otherwise a burst of refused uploads holds the budget and nobody gets through.
  const dropBytes = (collector: ByteCollector) => {
    collector.discard();
    reservation.release();
  };

  try {
    const parts = request.parts({
      limits: { fileSize: maxUploadBytes, files: 4, fields: 16, parts: 20, fieldSize: 4096, fieldNameSize: 128, headerPairs: 16 },
    });
    for await (const part of parts) {
      if (part.type === 'field') {
        if (typeof part.value === 'string' && !fields.has(part.fieldname)) fields.set(part.fieldname, part.value);
        continue;
      }
      if (part.fieldname !== IMAGE_FIELD) {
        refusal ??= new AppError('IMAGE_PART_MISSING', `unexpected file part "${part.fieldname.slice(0, 64)}": send the image in a part named "image"`);
        await drain(part.file);
        continue;
      }
      imageParts += 1;
      if (imageParts > 1) {
        refusal ??= new AppError('TOO_MANY_FILES', 'send exactly one file part named "image"');
      }
      if (refusal !== undefined) {
        await drain(part.file);
        continue;
      }
      const badFilename = filenameProblem(part.filename);
      if (badFilename !== undefined) {
        refusal = new AppError('INVALID_FILENAME', badFilename);
        await drain(part.file);
        continue;
      }
      if (!isAllowedFilename(part.filename)) {
        refusal = new AppError('UNSUPPORTED_EXTENSION', 'only .jpg, .jpeg and .png files are accepted');
        await drain(part.file);
        continue;
      }

      const current = { collector: new ByteCollector(), contentType: undefined as ImageContentType | undefined };
      image = current;
      for await (const chunk of part.file as AsyncIterable<Buffer>) {
        if (refusal !== undefined) continue;
        const total = current.collector.length + chunk.length;
        // A large upload that keeps sending claims its whole length now, so that of a burst
        // the uploads that cannot all fit are refused early rather than all growing together.
        const claimNow = expectedBytes !== undefined && total >= CLAIM_AFTER_BYTES && current.collector.length < CLAIM_AFTER_BYTES;
        if (!reservation.ensure(total) || (claimNow && !reservation.claim(Math.max(expectedBytes, total)))) {
          // Answered at once: a client that reads early stops sending, and the error handler
          // discards what still comes (the form's content plays no part in this refusal).
          dropBytes(current.collector);
          throw overloaded();
        }
        if (claimNow) current.collector.intoOneBuffer(expectedBytes);
        current.collector.append(chunk);
        if (current.contentType === undefined && current.collector.length >= SIGNATURE_BYTES) {
          current.contentType = detectImageType(current.collector.bytes().subarray(0, SIGNATURE_BYTES));
          if (current.contentType === undefined) {
            refusal = new AppError('UNSUPPORTED_IMAGE_TYPE', 'the file is neither a JPEG nor a PNG');
            dropBytes(current.collector);
          }
        }
      }
      if (part.file.truncated) {
        refusal = new AppError('IMAGE_TOO_LARGE', `the image is larger than the upload limit of ${maxUploadBytes} bytes`);
      }
    }
  } catch (error) {
    // Broken framing says the body is not what it claims to be: that wins over what the
    // content of a cut-off part looked like. Limits hit after a refusal keep the refusal.
    const thrown = multipartRefusal(error);
    throw thrown.code === 'MALFORMED_MULTIPART' ? thrown : (refusal ?? thrown);
  }

  if (refusal !== undefined) throw refusal;
  if (image === undefined) throw new AppError('IMAGE_PART_MISSING', 'the form has no file part named "image"');
  if (image.collector.length === 0) throw new AppError('EMPTY_FILE', 'the image file is empty');
  const bytes = image.collector.bytes();
  // A file shorter than a PNG signature can still be a (certainly broken) JPEG start.
  const contentType = image.contentType ?? detectImageType(bytes);
  if (contentType === undefined) throw new AppError('UNSUPPORTED_IMAGE_TYPE', 'the file is neither a JPEG nor a PNG');
  return { bytes, contentType, fields };
}
