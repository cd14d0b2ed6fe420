export { MAX_OBJECT_BYTES, ObjectStore, isObjectNotFound, type ObjectInfo, type ObjectStoreSettings } from './object-store.js';
