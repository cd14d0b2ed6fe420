import type { FastifyInstance } from 'fastify';
import { isPerceptualHash, type BlocklistEntryView, type BlocklistRepository, type ImageRepository, type NewBlocklistEntry } from '@imagehost/db';
import { AppError } from '@imagehost/errors';
import { isImageKey, isSha256Hex } from '@imagehost/keys';
import { audited } from './audit-log.js';
import { blocklistEntriesOf } from './takedown.js';

export interface BlocklistAdminDeps {
  readonly images: Pick<ImageRepository, 'findAny'>;
  readonly blocklist: Pick<BlocklistRepository, 'add' | 'list' | 'removeHash'>;
  readonly clock: () => number;
}

const PAGE_DEFAULT = 100;
const PAGE_MAX = 1000;

function describeEntry(entry: BlocklistEntryView) {
  return { id: entry._id, kind: entry.kind, hash: entry.hash, dct_hash: entry.dctHash ?? null, image_key: entry.imageKey, reason: entry.reason, note: entry.note, created_at: entry.createdAt.toISOString() };
}

const listSchema = {
  querystring: {
    type: 'object',
    additionalProperties: false,
    properties: { limit: { type: 'integer', minimum: 1, maximum: PAGE_MAX }, after: { type: 'string', maxLength: 200 } },
  },
} as const;

const addSchema = {
  body: {
    type: 'object',
    required: ['reason'],
    additionalProperties: false,
    properties: {
      sha256: { type: 'string', pattern: '^[0-9a-f]{64}$' },
      perceptual_hash: { type: 'string', pattern: '^[0-9a-f]{16}$' },
      image_key: { type: 'string' },
      reason: { type: 'string', minLength: 1, maxLength: 100 },
      note: { type: 'string', maxLength: 2000 },
    },
  },
} as const;

interface AddBody {
  readonly sha256?: string;
  readonly perceptual_hash?: string;
  readonly image_key?: string;
  readonly reason: string;
  readonly note?: string;
}

/** `/admin/blocklist`: list, add (by hash, or an image's hashes) and remove blocked content. */
export async function blocklistAdminRoutes(app: FastifyInstance, deps: BlocklistAdminDeps): Promise<void> {
  app.get<{ Querystring: { limit?: number; after?: string } }>('/admin/blocklist', { schema: listSchema, config: { audit: 'blocklist.list' } }, async (request) => {
    const { limit = PAGE_DEFAULT, after } = request.query;
    return audited(request, { action: 'blocklist.list' }, async () => {
      const entries = await deps.blocklist.list(limit, after);
      return { entries: entries.map(describeEntry), next_after: entries.length === limit ? (entries.at(-1)?._id ?? null) : null };
    });
  });

  app.post<{ Body: AddBody }>('/admin/blocklist', { schema: addSchema, config: { audit: 'blocklist.add' } }, async (request, reply) => {
    const { sha256, perceptual_hash: perceptualHash, image_key: imageKey, reason, note = '' } = request.body;
    const facts = { action: 'blocklist.add', imageKey, reason, detail: { hash: sha256 ?? perceptualHash ?? 'from-image' } };
    return audited(request, facts, async () => {
      const given = [sha256, perceptualHash, imageKey].filter((value) => value !== undefined);
      if (given.length !== 1) throw new AppError('BAD_REQUEST', 'give exactly one of sha256, perceptual_hash and image_key');
      const createdAt = new Date(deps.clock());
      let entries: NewBlocklistEntry[];
      if (imageKey !== undefined) {
        const record = isImageKey(imageKey) ? await deps.images.findAny(imageKey) : undefined;
        if (record === undefined) throw new AppError('IMAGE_NOT_FOUND', 'no image has this key');
        entries = blocklistEntriesOf(record, reason, note, createdAt);
      } else if (sha256 !== undefined && isSha256Hex(sha256)) {
        entries = [{ kind: 'sha256', hash: sha256, imageKey: null, reason, note, createdAt }];
      } else if (perceptualHash !== undefined && isPerceptualHash(perceptualHash)) {
        entries = [{ kind: 'perceptual', hash: perceptualHash, imageKey: null, reason, note, createdAt }];
      } else {
        throw new AppError('BAD_REQUEST', 'not a hash');
      }
      const added = await deps.blocklist.add(entries);
      return reply.status(added.length > 0 ? 201 : 200).send({ added: added.map(describeEntry) });
    });
  });

  app.delete<{ Params: { hash: string } }>(
    '/admin/blocklist/:hash',
    { schema: { params: { type: 'object', required: ['hash'], properties: { hash: { type: 'string', pattern: '^([0-9a-f]{16}|[0-9a-f]{64})$' } } } }, config: { audit: 'blocklist.remove' } },
    async (request) => {
      const { hash } = request.params;
      return audited(request, { action: 'blocklist.remove', detail: { hash } }, async () => {
        const removed = await deps.blocklist.removeHash(hash);
        if (removed === 0) throw new AppError('NOT_FOUND', 'no blocklist entry has this hash');
        return { hash, removed };
      });
    },
  );
}
