export * from './queues.js';
export * from './job-outcomes.js';
export * from './redis-connection.js';
