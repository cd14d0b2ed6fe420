export { ObjectStore, isObjectNotFound, type ObjectInfo, type ObjectStoreSettings } from './object-store.js';
