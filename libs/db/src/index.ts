export { callMongo, isDuplicateKeyError, isMongoUnavailable } from './backend-errors.js';
export { imageModel, type ImageModel, type ImageRecord, type StoredContentType } from './image.model.js';
export { ImageRepository, connectDatabase, type DatabaseSettings, type InsertOutcome } from './image.repository.js';
