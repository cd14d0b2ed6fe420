import { createHash, randomInt } from 'node:crypto';
import sharp from 'sharp';

// The images the soak's clients upload, and the live ones they work on.

export interface LiveImage {
  readonly imageKey: string;
  deleteKey: string;
  updateKey: string;
  sha256: string;
}

export interface PoolImage {
  readonly bytes: Buffer;
  readonly filename: string;
  readonly sha256: string;
}

export const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');
export const shortHash = (key: string): string => sha256(Buffer.from(key)).slice(0, 16);

/** Live images not held by any client; a client takes one, works on it alone, and puts it back. */
export class KeyPool {
  private readonly free: LiveImage[] = [];

  get size(): number {
    return this.free.length;
  }

  take(): LiveImage | undefined {
    if (this.free.length === 0) return undefined;
    const at = randomInt(this.free.length);
    const last = this.free.pop() as LiveImage;
    if (at === this.free.length) return last;
    const taken = this.free[at] as LiveImage;
    this.free[at] = last;
    return taken;
  }

  put(image: LiveImage): void {
    this.free.push(image);
  }

  all(): readonly LiveImage[] {
    return this.free;
  }
}

/** Distinct small JPEGs and PNGs (noise over a gradient, so sizes vary from a few to ~100 KiB). */
export async function imagePool(count: number): Promise<PoolImage[]> {
  const images: PoolImage[] = [];
  const names = ['photo.jpg', 'scan.png', 'IMG_01.JPEG', 'shot.PNG', 'pic.jpeg'];
  for (let index = 0; index < count; index++) {
    const width = 48 + randomInt(200);
    const height = 48 + randomInt(160);
    const noise = randomInt(4, 96);
    const pixels = Buffer.alloc(width * height * 3);
    for (let at = 0; at < pixels.length; at++) pixels[at] = ((at % (width * 3)) * 255) / (width * 3) + Math.random() * noise;
    const raw = sharp(pixels, { raw: { width, height, channels: 3 } });
    const filename = names[index % names.length] ?? 'photo.jpg';
    const bytes = /\.png$/i.test(filename) ? await raw.png().toBuffer() : await raw.jpeg({ quality: 60 + randomInt(35) }).toBuffer();
    images.push({ bytes, filename, sha256: sha256(bytes) });
  }
  return images;
}
