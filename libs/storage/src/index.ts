export { MAX_OBJECT_BYTES, ObjectStore, type ListedObject, type ObjectMetadata, type ObjectStoreSettings, type S3CallObserver } from './object-store.js';
