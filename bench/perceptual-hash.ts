import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stripImageMetadata } from '@imagehost/image-format';
import { dctHash, perceptualHash } from '@imagehost/image-format/perceptual';
import sharp from 'sharp';
import { currentCommit } from './measure.js';
import { CORPUS_SOURCES, corpusBytes, ensureCorpus, readCorpusImage, type CorpusImage } from './perceptual-hash-corpus.js';

// `npm run bench:perceptual-hash`: how often the blocklist's perceptual match would refuse an
// unrelated picture (every pair of distinct corpus pictures) and how often it catches the
// copies a host sees re-uploaded (derived from the corpus pictures), for each Hamming
// threshold d; and what a hash costs against a bare decode. Method in bench/README.md.

const MAX_D = 12;
/** Originals the copies derive from: corpus pictures whose long side reaches this… */
const HIT_MIN_LONG_SIDE = Number(process.env.BENCH_HIT_MIN_LONG_SIDE ?? 400);
/** …at most this many, spread evenly over them (the copies of large wallpapers are slow). */
const HIT_ORIGINALS = Number(process.env.BENCH_HIT_ORIGINALS ?? 300);
const RESULTS = join(dirname(fileURLToPath(import.meta.url)), '..', 'results', 'perceptual-hash.md');

type Algorithm = 'dHash' | 'pHash' | 'dHash and pHash';
const ALGORITHMS: readonly Algorithm[] = ['dHash', 'pHash', 'dHash and pHash'];

interface Hashed {
  readonly image: CorpusImage;
  readonly width: number;
  readonly height: number;
  readonly format: string;
  readonly hasAlpha: boolean;
  readonly dHash: string;
  readonly pHash: string;
}

const POPCOUNT = Uint8Array.from({ length: 65536 }, (_, value) => {
  let bits = 0;
  for (let v = value; v !== 0; v &= v - 1) bits += 1;
  return bits;
});

/** A 16-hex-digit hash as four 16-bit words, so a pair's distance is four table look-ups. */
function words(hash: string): [number, number, number, number] {
  return [0, 4, 8, 12].map((at) => parseInt(hash.slice(at, at + 4), 16)) as [number, number, number, number];
}

function distance(a: readonly number[], b: readonly number[]): number {
  return (POPCOUNT[(a[0] ?? 0) ^ (b[0] ?? 0)] ?? 0) + (POPCOUNT[(a[1] ?? 0) ^ (b[1] ?? 0)] ?? 0) + (POPCOUNT[(a[2] ?? 0) ^ (b[2] ?? 0)] ?? 0) + (POPCOUNT[(a[3] ?? 0) ^ (b[3] ?? 0)] ?? 0);
}

/** The distance a match at threshold d must stay within: both hashes for the combination. */
function matchDistance(algorithm: Algorithm, dHash: number, pHash: number): number {
  if (algorithm === 'dHash') return dHash;
  if (algorithm === 'pHash') return pHash;
  return Math.max(dHash, pHash);
}

const median = (values: readonly number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] ?? NaN) : ((sorted[middle - 1] ?? NaN) + (sorted[middle] ?? NaN)) / 2;
};

async function timed<T>(work: () => Promise<T>): Promise<[T, number]> {
  const start = process.hrtime.bigint();
  const result = await work();
  return [result, Number(process.hrtime.bigint() - start) / 1e6];
}

/** A bare decode of every pixel: the floor any hash of the decoded image pays at most. */
const decode = (bytes: Buffer) => sharp(bytes, { failOn: 'none' }).raw().toBuffer();

// ---------------------------------------------------------------------------------------
// The copies a host sees re-uploaded

interface Transform {
  readonly name: string;
  /** Whether the transform applies to this original (a resize never enlarges). */
  readonly applies: (original: Hashed) => boolean;
  readonly make: (bytes: Buffer, original: Hashed) => Promise<Buffer>;
}

const WHITE = { r: 255, g: 255, b: 255 };
/** Re-encodes in the original's own format, as an editor saving over the file would. */
function sameFormat(pipeline: ReturnType<typeof sharp>, original: Hashed): Promise<Buffer> {
  // PNG's compression level changes the bytes, never the pixels: the fastest keeps the run short.
  return original.format === 'jpeg' ? pipeline.jpeg({ quality: 85 }).toBuffer() : pipeline.png({ compressionLevel: 1 }).toBuffer();
}
const longSide = (original: Hashed) => Math.max(original.width, original.height);
const always = () => true;

const TRANSFORMS: readonly Transform[] = [
  { name: 'JPEG quality 90', applies: always, make: (bytes) => sharp(bytes).flatten({ background: WHITE }).jpeg({ quality: 90 }).toBuffer() },
  { name: 'JPEG quality 70', applies: always, make: (bytes) => sharp(bytes).flatten({ background: WHITE }).jpeg({ quality: 70 }).toBuffer() },
  { name: 'JPEG quality 50', applies: always, make: (bytes) => sharp(bytes).flatten({ background: WHITE }).jpeg({ quality: 50 }).toBuffer() },
  { name: 'resized to 50 %', applies: always, make: (bytes, o) => sameFormat(sharp(bytes).resize(Math.round(o.width / 2)), o) },
  { name: 'resized to 25 %', applies: always, make: (bytes, o) => sameFormat(sharp(bytes).resize(Math.round(o.width / 4)), o) },
  { name: 'long side 1280 px', applies: (o) => longSide(o) > 1280, make: (bytes, o) => sameFormat(sharp(bytes).resize(1280, 1280, { fit: 'inside' }), o) },
  { name: 'long side 640 px', applies: (o) => longSide(o) > 640, make: (bytes, o) => sameFormat(sharp(bytes).resize(640, 640, { fit: 'inside' }), o) },
  { name: 'long side 640 px, JPEG 70', applies: (o) => longSide(o) > 640, make: (bytes) => sharp(bytes).resize(640, 640, { fit: 'inside' }).flatten({ background: WHITE }).jpeg({ quality: 70 }).toBuffer() },
  {
    name: 'JPEG→PNG, PNG→JPEG (85, on white)',
    applies: always,
    make: (bytes, o) => (o.format === 'jpeg' ? sharp(bytes).png({ compressionLevel: 1 }).toBuffer() : sharp(bytes).flatten({ background: WHITE }).jpeg({ quality: 85 }).toBuffer()),
  },
  {
    name: 'transparent PNG→JPEG on black',
    applies: (o) => o.hasAlpha,
    make: (bytes) => sharp(bytes).flatten({ background: { r: 0, g: 0, b: 0 } }).jpeg({ quality: 85 }).toBuffer(),
  },
  {
    name: 'metadata stripped',
    applies: always,
    make: (bytes, o) => Promise.resolve(stripImageMetadata(Buffer.from(bytes), o.format === 'jpeg' ? 'image/jpeg' : 'image/png').bytes),
  },
  {
    name: 'cropped 2 % each side',
    applies: always,
    make: (bytes, o) => {
      const dx = Math.round(o.width * 0.02);
      const dy = Math.round(o.height * 0.02);
      return sameFormat(sharp(bytes).rotate().extract({ left: dx, top: dy, width: o.width - 2 * dx, height: o.height - 2 * dy }), o);
    },
  },
  { name: 'brightness +10 %', applies: always, make: (bytes, o) => sameFormat(sharp(bytes).modulate({ brightness: 1.1 }), o) },
  { name: 'mirrored (expected miss)', applies: always, make: (bytes, o) => sameFormat(sharp(bytes).flop(), o) },
];

// ---------------------------------------------------------------------------------------

const pct = (part: number, whole: number, digits = 2) => (whole === 0 ? '–' : `${((100 * part) / whole).toFixed(digits)} %`);

async function main(): Promise<void> {
  const corpus = await ensureCorpus();
  const started = new Date();
  process.stderr.write(`[bench] ${corpus.images.length} pictures in ${corpus.dir}\n`);

  // Warm sharp up on a few pictures so the first timings do not carry libvips' start-up.
  for (const image of corpus.images.slice(0, 5)) {
    const bytes = readCorpusImage(corpus, image);
    await perceptualHash(bytes);
    await decode(bytes);
  }

  const hashed: Hashed[] = [];
  const timings = { dHash: [] as number[], pHash: [] as number[], decode: [] as number[], megapixels: [] as number[] };
  for (const [index, image] of corpus.images.entries()) {
    const bytes = readCorpusImage(corpus, image);
    const metadata = await sharp(bytes).metadata();
    // Alternate the order, so neither side always runs on a warm cache.
    const order = index % 2 === 0;
    let decodeMs = 0;
    if (order) [, decodeMs] = await timed(() => decode(bytes));
    const [dHash, dHashMs] = await timed(() => perceptualHash(bytes));
    const [pHash, pHashMs] = await timed(() => dctHash(bytes));
    if (!order) [, decodeMs] = await timed(() => decode(bytes));
    timings.dHash.push(dHashMs);
    timings.pHash.push(pHashMs);
    timings.decode.push(decodeMs);
    timings.megapixels.push(((metadata.width ?? 0) * (metadata.height ?? 0)) / 1e6);
    hashed.push({ image, width: metadata.width ?? 0, height: metadata.height ?? 0, format: metadata.format ?? '?', hasAlpha: metadata.hasAlpha ?? false, dHash, pHash });
  }

  // Every pair of distinct pictures: a pair within d is a picture the blocklist would
  // refuse because the other one is on it.
  const n = hashed.length;
  const pairs = (n * (n - 1)) / 2;
  const dWords = hashed.map((h) => words(h.dHash));
  const pWords = hashed.map((h) => words(h.pHash));
  const histogram = Object.fromEntries(ALGORITHMS.map((a) => [a, new Float64Array(65)])) as Record<Algorithm, Float64Array>;
  const nearest = Object.fromEntries(ALGORITHMS.map((a) => [a, new Uint8Array(n).fill(64)])) as Record<Algorithm, Uint8Array>;
  const closePairs: { a: number; b: number; dHash: number; pHash: number }[] = [];
  for (let i = 0; i < n; i += 1) {
    const di = dWords[i] ?? [];
    const pi = pWords[i] ?? [];
    for (let j = i + 1; j < n; j += 1) {
      const dd = distance(di, dWords[j] ?? []);
      const pd = distance(pi, pWords[j] ?? []);
      for (const algorithm of ALGORITHMS) {
        const m = matchDistance(algorithm, dd, pd);
        (histogram[algorithm][m] as number) += 1;
        const near = nearest[algorithm];
        if (m < (near[i] ?? 64)) near[i] = m;
        if (m < (near[j] ?? 64)) near[j] = m;
      }
      if (Math.min(dd, pd) <= 8) closePairs.push({ a: i, b: j, dHash: dd, pHash: pd });
    }
  }
  const pairsWithin = (algorithm: Algorithm, d: number) => histogram[algorithm].slice(0, d + 1).reduce((s, c) => s + c, 0);
  const imagesWithin = (algorithm: Algorithm, d: number) => nearest[algorithm].reduce((s, m) => s + (m <= d ? 1 : 0), 0);

  // The copies: every transform of every original it applies to, hashed both ways.
  const candidates = hashed.filter((h) => Math.max(h.width, h.height) >= HIT_MIN_LONG_SIDE);
  const stride = Math.max(1, candidates.length / HIT_ORIGINALS);
  const originals = candidates.filter((_, i) => Math.floor(i / stride) !== Math.floor((i - 1) / stride) || i === 0);
  const copies = new Map<string, { dHash: number; pHash: number }[]>(TRANSFORMS.map((t) => [t.name, []]));
  for (const [index, original] of originals.entries()) {
    if (index % 50 === 0) process.stderr.write(`[bench] copies of original ${index + 1}/${originals.length}\n`);
    const bytes = readCorpusImage(corpus, original.image);
    const dOriginal = words(original.dHash);
    const pOriginal = words(original.pHash);
    for (const transform of TRANSFORMS) {
      if (!transform.applies(original)) continue;
      const copy = await transform.make(bytes, original);
      copies.get(transform.name)?.push({ dHash: distance(dOriginal, words(await perceptualHash(copy))), pHash: distance(pOriginal, words(await dctHash(copy))) });
    }
  }
  const hitsWithin = (name: string, algorithm: Algorithm, d: number) => (copies.get(name) ?? []).filter((c) => matchDistance(algorithm, c.dHash, c.pHash) <= d).length;

  // ---- report
  const machine = { cores: cpus().length, model: cpus()[0]?.model ?? '?', memoryGiB: Math.round(totalmem() / 1024 ** 3), node: process.version, sharp: sharp.versions.sharp, vips: sharp.versions.vips };
  const lines: string[] = [];
  const out = (line = '') => lines.push(line);
  out('# Perceptual hash: false positives, hits and cost');
  out();
  out(`Run ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC, commit \`${currentCommit()}\`, ${machine.cores} cores (${machine.model}), ${machine.memoryGiB} GiB, Node ${machine.node}, sharp ${machine.sharp} (libvips ${machine.vips}). Written by \`npm run bench:perceptual-hash\`; method in [../README.md](../README.md#perceptual-hash). Measured figures, not rounded up.`);
  out();
  out('## Corpus');
  out();
  out(`${n} distinct pictures (${(corpusBytes(corpus) / 1024 ** 2).toFixed(1)} MiB), ${pairs} pairs. Byte-identical files shipped twice were kept once (${corpus.duplicates.length} left out${corpus.duplicates.length > 0 ? `: ${corpus.duplicates.map((d) => `\`${d.id}\` = \`${d.sameAs}\``).join(', ')}` : ''}).`);
  out();
  out('| source | registry | version | pictures | what |');
  out('|---|---|---|---|---|');
  for (const source of CORPUS_SOURCES) {
    const count = hashed.filter((h) => h.image.source === source.name).length;
    out(`| \`${source.name}\` | ${source.kind === 'debian' ? 'Debian (bookworm)' : 'PyPI'} | ${source.version} | ${count} | ${source.what} |`);
  }
  out();
  const sizes = hashed.map((h) => Math.max(h.width, h.height));
  out(`Long side: median ${median(sizes)} px, smallest ${Math.min(...sizes)}, largest ${Math.max(...sizes)}; ${hashed.filter((h) => h.format === 'jpeg').length} JPEG, ${hashed.filter((h) => h.format === 'png').length} PNG (${hashed.filter((h) => h.hasAlpha).length} with transparency).`);
  out();
  out('## False positives: distinct pictures within d');
  out();
  out('"pairs" = pairs of distinct pictures whose hashes lie within d bits (of all pairs); "pictures" = pictures that would be refused if any one other picture of the corpus were on the blocklist. "dHash and pHash" matches only when both lie within d.');
  out();
  out(`| d | ${ALGORITHMS.map((a) => `${a}: pairs | ${a}: pictures`).join(' | ')} |`);
  out(`|---|${ALGORITHMS.map(() => '---|---').join('|')}|`);
  for (let d = 0; d <= MAX_D; d += 1) {
    out(`| ${d} | ${ALGORITHMS.map((a) => `${pairsWithin(a, d)} (${pct(pairsWithin(a, d), pairs, 4)}) | ${imagesWithin(a, d)} (${pct(imagesWithin(a, d), n)})`).join(' | ')} |`);
  }
  out();
  const bySource = new Map<string, number>();
  for (const [i, h] of hashed.entries()) if ((nearest.dHash[i] ?? 64) <= 6) bySource.set(h.image.source, (bySource.get(h.image.source) ?? 0) + 1);
  out(`Pictures within 6 bits (dHash) of another, by source: ${[...bySource].map(([s, c]) => `${s} ${c} of ${hashed.filter((h) => h.image.source === s).length}`).join('; ') || 'none'}.`);
  out();
  out('Closest pairs (either hash within 8 bits), closest dHash first:');
  out();
  out('| dHash | pHash | picture | picture |');
  out('|---|---|---|---|');
  for (const pair of closePairs.sort((x, y) => x.dHash - y.dHash || x.pHash - y.pHash).slice(0, 40)) {
    out(`| ${pair.dHash} | ${pair.pHash} | \`${hashed[pair.a]?.image.id}\` | \`${hashed[pair.b]?.image.id}\` |`);
  }
  if (closePairs.length > 40) out(`| … | … | ${closePairs.length - 40} more pairs | |`);
  out();
  out('## Hits: copies within d of their original');
  out();
  out(`Originals: ${originals.length} of the ${candidates.length} corpus pictures whose long side is at least ${HIT_MIN_LONG_SIDE} px, evenly spread over them in corpus order (${originals.filter((o) => o.format === 'jpeg').length} JPEG, ${originals.filter((o) => o.format === 'png').length} PNG, ${originals.filter((o) => o.hasAlpha).length} transparent). A resize to a long side applies only to larger originals; "same format" re-encodes are JPEG quality 85 or PNG.`);
  out();
  for (const algorithm of ALGORITHMS) {
    out(`### ${algorithm}`);
    out();
    const ds = [0, 2, 4, 5, 6, 8, 10, 12];
    out(`| copy | n | ${ds.map((d) => `d ≤ ${d}`).join(' | ')} | median distance |`);
    out(`|---|---|${ds.map(() => '---').join('|')}|---|`);
    for (const transform of TRANSFORMS) {
      const list = copies.get(transform.name) ?? [];
      out(`| ${transform.name} | ${list.length} | ${ds.map((d) => pct(hitsWithin(transform.name, algorithm, d), list.length, 1)).join(' | ')} | ${median(list.map((c) => matchDistance(algorithm, c.dHash, c.pHash)))} |`);
    }
    out();
  }
  out('## Cost per picture');
  out();
  const big = timings.megapixels.map((mp, i) => [mp, i] as const).filter(([mp]) => mp >= 4).map(([, i]) => i);
  const pick = (list: readonly number[], indexes: readonly number[]) => indexes.map((i) => list[i] ?? NaN);
  const all = hashed.map((_, i) => i);
  out('Median milliseconds over the corpus, each picture hashed and decoded in the same run (the order alternated); "decode" is a bare sharp decode of every pixel.');
  out();
  out('| pictures | n | dHash (library) | pHash (DCT) | bare decode |');
  out('|---|---|---|---|---|');
  for (const [label, indexes] of [['all', all], ['≥ 4 megapixels', big]] as const) {
    out(`| ${label} | ${indexes.length} | ${median(pick(timings.dHash, indexes)).toFixed(2)} | ${median(pick(timings.pHash, indexes)).toFixed(2)} | ${median(pick(timings.decode, indexes)).toFixed(2)} |`);
  }
  out();

  const report = lines.join('\n');
  process.stdout.write(`${report}\n`);
  if (process.env.BENCH_NO_WRITE === undefined) {
    mkdirSync(dirname(RESULTS), { recursive: true });
    writeFileSync(RESULTS, report);
    process.stderr.write(`[bench] wrote ${RESULTS}\n`);
  }
}

await main();
