export { MAX_OBJECT_BYTES, ObjectStore, type ObjectStoreSettings } from './object-store.js';
