export { ConfigError, loadConfig } from './load-config.js';
export {
  DEFAULT_MAX_IMAGE_PIXELS,
  DEFAULT_MAX_UPLOAD_BYTES,
  SERVICE_NAMES,
  describeServiceVariables,
  loadGatewayConfig,
  loadIngestConfig,
  loadReaperConfig,
  loadRedisConfig,
  type BackendsConfig,
  type GatewayConfig,
  type IngestConfig,
  type ReaperConfig,
  type RedisNode,
  type RedisTopology,
  type ServiceName,
  type VariableSpec,
} from './service-config.js';
