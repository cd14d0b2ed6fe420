export { ConfigError, loadConfig } from './load-config.js';
export {
  DEFAULT_MAX_IMAGE_PIXELS,
  DEFAULT_MAX_UPLOAD_BYTES,
  SERVICE_NAMES,
  describeServiceVariables,
  loadGatewayConfig,
  loadIngestConfig,
  loadReaperConfig,
  type BackendsConfig,
  type GatewayConfig,
  type IngestConfig,
  type ReaperConfig,
  type ServiceName,
  type VariableSpec,
} from './service-config.js';
