import { AlwaysOffSampler, AlwaysOnSampler, ParentBasedSampler, TraceIdRatioBasedSampler, type BatchSpanProcessorOptions, type Sampler, type SpanLimits } from '@opentelemetry/sdk-trace';

// The SDK environment variables of the OpenTelemetry specification that the tracer provider
// and the batch span processor read by themselves before OpenTelemetry JS 3. From 3 on they
// are the application's to read (or `@opentelemetry/sdk-node`'s, which brings every exporter
// and signal along), so they are read here, as the specification defines them, and a
// deployment's OTEL_BSP_*, OTEL_TRACES_SAMPLER and span limits keep their effect.

type Environment = Readonly<Record<string, string | undefined>>;

/** The first of `names` set to a number (blank and non-numeric values count as unset). */
function numberFrom(env: Environment, ...names: string[]): number | undefined {
  for (const name of names) {
    const raw = env[name]?.trim();
    if (raw === undefined || raw === '') continue;
    const value = Number(raw);
    if (Number.isFinite(value)) return value;
  }
  return undefined;
}

function nonNegativeFrom(env: Environment, name: string): number | undefined {
  const value = numberFrom(env, name);
  return value !== undefined && value >= 0 ? value : undefined;
}

/** `OTEL_BSP_*`: how spans are batched for export (unset: the SDK's defaults). */
export function batchOptionsFromEnvironment(env: Environment): Omit<BatchSpanProcessorOptions, 'exporter'> {
  return {
    maxQueueSize: nonNegativeFrom(env, 'OTEL_BSP_MAX_QUEUE_SIZE'),
    maxExportBatchSize: nonNegativeFrom(env, 'OTEL_BSP_MAX_EXPORT_BATCH_SIZE'),
    scheduledDelayMillis: nonNegativeFrom(env, 'OTEL_BSP_SCHEDULE_DELAY'),
    exportTimeoutMillis: nonNegativeFrom(env, 'OTEL_BSP_EXPORT_TIMEOUT'),
  };
}

/** The span limits (`OTEL_SPAN_*_LIMIT`, with the general `OTEL_ATTRIBUTE_*` ones beneath). */
export function spanLimitsFromEnvironment(env: Environment): SpanLimits {
  return {
    attributeCountLimit: numberFrom(env, 'OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT', 'OTEL_ATTRIBUTE_COUNT_LIMIT'),
    attributeValueLengthLimit: numberFrom(env, 'OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT', 'OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT'),
    eventCountLimit: numberFrom(env, 'OTEL_SPAN_EVENT_COUNT_LIMIT'),
    linkCountLimit: numberFrom(env, 'OTEL_SPAN_LINK_COUNT_LIMIT'),
    attributePerEventCountLimit: numberFrom(env, 'OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT', 'OTEL_SPAN_ATTRIBUTE_PER_EVENT_COUNT_LIMIT'),
    attributePerLinkCountLimit: numberFrom(env, 'OTEL_LINK_ATTRIBUTE_COUNT_LIMIT', 'OTEL_SPAN_ATTRIBUTE_PER_LINK_COUNT_LIMIT'),
  };
}

/** `OTEL_TRACES_SAMPLER_ARG`: a ratio in [0, 1], else every trace. */
function ratioFrom(env: Environment): number {
  const ratio = numberFrom(env, 'OTEL_TRACES_SAMPLER_ARG');
  return ratio !== undefined && ratio >= 0 && ratio <= 1 ? ratio : 1;
}

/** The samplers `OTEL_TRACES_SAMPLER` names, given the ratio its `_ARG` holds. */
const SAMPLERS: ReadonlyMap<string, (ratio: number) => Sampler> = new Map<string, (ratio: number) => Sampler>([
  ['always_on', () => new AlwaysOnSampler()],
  ['always_off', () => new AlwaysOffSampler()],
  ['traceidratio', (ratio) => new TraceIdRatioBasedSampler(ratio)],
  ['parentbased_always_on', () => new ParentBasedSampler({ root: new AlwaysOnSampler() })],
  ['parentbased_always_off', () => new ParentBasedSampler({ root: new AlwaysOffSampler() })],
  ['parentbased_traceidratio', (ratio) => new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio) })],
]);

/**
 * `OTEL_TRACES_SAMPLER` (and its `_ARG`); `undefined` when unset or unknown, which leaves the
 * SDK's default: follow the caller's decision, sample every new trace.
 */
export function samplerFromEnvironment(env: Environment): Sampler | undefined {
  return SAMPLERS.get(env.OTEL_TRACES_SAMPLER?.trim() ?? '')?.(ratioFrom(env));
}
