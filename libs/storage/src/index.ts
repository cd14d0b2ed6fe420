export { MAX_OBJECT_BYTES, ObjectStore, type ListedObject, type ObjectMetadata, type ObjectStoreSettings } from './object-store.js';
