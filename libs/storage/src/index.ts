export { MAX_OBJECT_BYTES, ObjectStore, type ObjectMetadata, type ObjectStoreSettings } from './object-store.js';
