export { ConfigError, loadConfig } from './load-config.js';
export {
  DEFAULT_MAX_IMAGE_PIXELS,
  DEFAULT_MAX_UPLOAD_BYTES,
  loadGatewayConfig,
  loadIngestConfig,
  loadReaperConfig,
  type BackendsConfig,
  type GatewayConfig,
  type IngestConfig,
  type ReaperConfig,
} from './service-config.js';
