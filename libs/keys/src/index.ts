export * from './keys.js';
export * from './object-keys.js';
