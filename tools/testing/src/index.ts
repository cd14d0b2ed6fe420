// The test tooling's public surface: re-exports only, so no module here imports this file
// (and none can close an import circle through it).
export { freePort } from '@imagehost/backends';
export { testBackendSettings, uniqueName } from './backend-settings.js';
export { timed, waitFor } from './wait-for.js';
export { metricSample } from './metric-sample.js';
export { ServiceProcess, TestStack, type GatewayProcess, type ServiceName, type StackOptions } from './stack.js';
export { corrupted, fixtures, pngChunk, truncated } from './fixtures.js';
export { multipartBody, request, uploadImage, type FormPart, type HttpResult } from './multipart.js';
export { readRss } from './process-memory.js';
export { TEST_RUN_VARIABLE, killLeftoverProcesses, testRunMarker } from './leftover-processes.js';
export { FaultProxy, type FaultMode, type FaultProxyStats, type FaultTarget } from './fault-proxy.js';
export { PHOTO_SECRETS, jpegSegment, phoneExif, phonePhotoJpeg, phonePhotoPng, pngChunkTypes, withJpegSegments } from './photo-metadata.js';
export { chromiumExecutable, launchChromium } from './browser.js';
export { SCHEMATHESIS_VERSION, schemathesisCommand } from './schemathesis.js';
