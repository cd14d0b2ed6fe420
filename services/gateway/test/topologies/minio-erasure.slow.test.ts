import { existsSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startLocalMinio } from '@imagehost/backends';
import { TestStack, fixtures, request, testBackendSettings, uploadImage, waitFor, type HttpResult } from '@imagehost/testing';

// MinIO erasure-coded over four drive folders (two data and two parity shards per object),
// one drive lost mid-run: reads and writes go on. The drive's folder is replaced by a file,
// which fails every access to it even for root (a chmod would not stop root).

const LOAD_MS = 6000;
/** Uploads stored on all four drives before one is lost. */
const STORED_BEFORE_LOSS = 10;
const MAX_REQUESTS = 200;

let dataDir: string;
let minio: Awaited<ReturnType<typeof startLocalMinio>>;
let stack: TestStack;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'minio-erasure-'));
  const { accessKey, secretKey, region } = testBackendSettings().s3;
  minio = await startLocalMinio(dataDir, { accessKey, secretKey, region }, { drives: 4 });
  // Every read goes to S3: the cache would hide a failing drive.
  stack = await TestStack.start({ s3: { endpoint: minio.endpoint, accessKey, secretKey, region }, env: { VERSION_CACHE_BYTES: '0' } });
}, 90_000);

afterAll(async () => {
  await stack.stop();
  await minio.process.stop();
  rmSync(dataDir, { recursive: true, force: true });
}, 90_000);

/** The drives holding a part of `objectKey` (MinIO keeps an `xl.meta` per object per drive). */
function drivesHolding(objectKey: string): number[] {
  return minio.drives.flatMap((drive, index) => (existsSync(join(drive, stack.env.S3_BUCKET ?? '', objectKey, 'xl.meta')) ? [index + 1] : []));
}

let seed = 0;
async function freshPng(): Promise<Buffer> {
  seed += 1;
  // Large enough (tens of KiB) that MinIO erasure-codes it instead of inlining it in xl.meta.
  return fixtures.rgbPng(120 + (seed % 40), 120 + Math.floor(seed / 40));
}

async function objectKeyOf(imageKey: string): Promise<string> {
  const record = (await stack.liveRecords()).find((r) => r._id === imageKey);
  if (record === undefined) throw new Error(`no record for ${imageKey}`);
  return record.objectKey;
}

describe('MinIO erasure-coded over four drives', () => {
  it('goes on serving and storing when one drive is lost mid-run', async () => {
    const accepted = new Map<string, Buffer>();
    const answers: { what: string; status: number; sameBytes?: boolean }[] = [];

    const before = await freshPng();
    const first = await uploadImage(stack.baseUrl, before, 'a.png');
    expect(first.status).toBe(201);
    accepted.set(String(first.json?.image_key), before);
    expect(drivesHolding(await objectKeyOf(String(first.json?.image_key)))).toEqual([1, 2, 3, 4]);

    const lost = minio.drives[2] ?? '';
    const started = Date.now();
    let driveLost = false;
    const client = async () => {
      while (Date.now() < started + LOAD_MS && answers.length < MAX_REQUESTS) {
        const bytes = await freshPng();
        const posted: HttpResult = await uploadImage(stack.baseUrl, bytes, 'a.png');
        answers.push({ what: `POST${driveLost ? ' after the loss' : ''}`, status: posted.status });
        if (posted.status === 201) accepted.set(String(posted.json?.image_key), bytes);
        const keys = [...accepted.keys()];
        const key = keys[Math.floor(Math.random() * keys.length)] ?? '';
        const got = await request(stack.url(`/${key}`));
        answers.push({ what: `GET${driveLost ? ' after the loss' : ''}`, status: got.status, sameBytes: got.body.equals(accepted.get(key) ?? Buffer.alloc(0)) });
        // Paces the load (a steady stream, not a flood): no state is waited for here.
        await sleep(50);
      }
    };
    const load = Promise.all([client(), client()]);
    await waitFor(`the load to store ${STORED_BEFORE_LOSS} uploads`, async () => (answers.filter((a) => a.what === 'POST' && a.status === 201).length >= STORED_BEFORE_LOSS ? true : undefined), 30_000);
    renameSync(lost, `${lost}.lost`);
    writeFileSync(lost, 'this drive is gone\n');
    driveLost = true;
    await load;

    expect(answers.filter((a) => a.status !== 201 && a.status !== 200)).toEqual([]);
    expect(answers.filter((a) => a.sameBytes === false)).toEqual([]);
    expect(answers.filter((a) => a.what.endsWith('after the loss')).length).toBeGreaterThan(10);

    // Everything stored, before and after the loss, is served with its bytes; the later ones from three drives.
    for (const [key, bytes] of accepted) expect([key, (await request(stack.url(`/${key}`))).body.equals(bytes)]).toEqual([key, true]);
    const after = await freshPng();
    const last = await uploadImage(stack.baseUrl, after, 'a.png');
    expect(last.status).toBe(201);
    expect(drivesHolding(await objectKeyOf(String(last.json?.image_key)))).toEqual([1, 2, 4]);
    // And deleting still works down to the objects.
    const removed = await request(stack.url(`/${String(last.json?.image_key)}`), {
      method: 'DELETE',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ delete_key: String(last.json?.delete_key) }),
    });
    expect(removed.status).toBe(200);
    await stack.waitUntilConsistent(30_000);
    for (const service of stack.processes) expect((await request(`${service.opsUrl}/readyz`)).status).toBe(200);
  });
});
