export {
  createBackendCallMetrics,
  createJobMetrics,
  createRegistry,
  observeRedisCall,
  registerQueueMetrics,
  type BackendCallObserver,
  type JobMetrics,
  type ObservedQueue,
} from './metrics.js';
export { backendChecks, startOpsServer, type OpsServer, type OpsServerOptions, type ReadinessCheck } from './ops-server.js';
export { QUEUE_DASHBOARD_PATH, mountQueueDashboard } from './queue-dashboard.js';
export { observeWorker } from './observe-worker.js';
export { exitOnSignalWhileStarting, shutDownGracefullyOnSignal, type ShutdownPlan } from './graceful-shutdown.js';
export { prepareInBackground } from './prepare-in-background.js';
export { serveWorker, type WorkerServiceOptions } from './serve-worker.js';
export { connectBackends, type ServiceBackends } from './connect-backends.js';
export { within } from './within.js';
export { inSpan, nameRequestSpan, startTracing, tracingActive, tracingRequested } from './tracing.js';
export { createModerationMetrics, type ModerationMetrics } from './moderation-metrics.js';
