export type { ImageRecord, StoredContentType } from './image.model.js';
export { ImageRepository, REPLICA_SET_OPTIONS, connectDatabase, type DatabaseSettings, type InsertOutcome } from './image.repository.js';
export type { MongoCallObserver } from './backend-errors.js';
