export * from './queues.js';
export * from './job-outcomes.js';
