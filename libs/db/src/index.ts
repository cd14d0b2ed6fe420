export { isExpired, isHidden, type ImageRecord, type StoredContentType } from './image.model.js';
export { ImageRepository, REPLICA_SET_OPTIONS, connectDatabase, type DatabaseSettings, type InsertOutcome } from './image.repository.js';
export type { MongoCallObserver } from './backend-errors.js';
