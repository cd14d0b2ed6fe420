export { TAKEDOWN_REASONS, type ImageRecord, type StoredContentType, type Takedown, type TakedownReason } from './image.model.js';
export { ImageRepository, REPLICA_SET_OPTIONS, connectDatabase, type DatabaseSettings, type InsertOutcome } from './image.repository.js';
export type { BlocklistEntry, BlocklistEntryView, BlocklistKind } from './blocklist.model.js';
export { BlocklistRepository, type BlocklistQuery, type NewBlocklistEntry } from './blocklist.repository.js';
export { MAX_PERCEPTUAL_DISTANCE, isPerceptualHash, perceptualTerms, sha256Term, storedPerceptualTerms } from './blocklist-terms.js';
export type { MongoCallObserver } from './backend-errors.js';
