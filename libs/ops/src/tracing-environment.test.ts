import { describe, expect, it } from '@jest/globals';
import { batchOptionsFromEnvironment, samplerFromEnvironment, spanLimitsFromEnvironment } from './tracing-environment.js';

describe('the OTel SDK variables the tracer provider is built from', () => {
  it('OTEL_BSP_* batch the export; unset, blank, non-numeric or negative values leave the defaults', () => {
    expect(batchOptionsFromEnvironment({ OTEL_BSP_SCHEDULE_DELAY: '100', OTEL_BSP_MAX_QUEUE_SIZE: ' 4096 ', OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '64', OTEL_BSP_EXPORT_TIMEOUT: '5000' })).toEqual({
      scheduledDelayMillis: 100,
      maxQueueSize: 4096,
      maxExportBatchSize: 64,
      exportTimeoutMillis: 5000,
    });
    expect(batchOptionsFromEnvironment({ OTEL_BSP_SCHEDULE_DELAY: '', OTEL_BSP_MAX_QUEUE_SIZE: 'many', OTEL_BSP_EXPORT_TIMEOUT: '-1' })).toEqual({
      scheduledDelayMillis: undefined,
      maxQueueSize: undefined,
      maxExportBatchSize: undefined,
      exportTimeoutMillis: undefined,
    });
  });

  it('span limits take the span-specific variable first, then the general one', () => {
    expect(spanLimitsFromEnvironment({ OTEL_ATTRIBUTE_COUNT_LIMIT: '64', OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT: '256', OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT: '1024', OTEL_SPAN_EVENT_COUNT_LIMIT: '8' })).toEqual({
      attributeCountLimit: 64,
      attributeValueLengthLimit: 1024,
      eventCountLimit: 8,
      linkCountLimit: undefined,
      attributePerEventCountLimit: undefined,
      attributePerLinkCountLimit: undefined,
    });
  });

  it.each([
    [{}, undefined],
    [{ OTEL_TRACES_SAMPLER: 'sometimes' }, undefined],
    [{ OTEL_TRACES_SAMPLER: 'constructor' }, undefined],
    [{ OTEL_TRACES_SAMPLER: 'always_on' }, 'AlwaysOnSampler'],
    [{ OTEL_TRACES_SAMPLER: 'always_off' }, 'AlwaysOffSampler'],
    [{ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.25' }, 'TraceIdRatioBased{0.25}'],
    [{ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '2' }, 'TraceIdRatioBased{1}'],
    [{ OTEL_TRACES_SAMPLER: 'traceidratio' }, 'TraceIdRatioBased{1}'],
    [{ OTEL_TRACES_SAMPLER: 'parentbased_always_off' }, expect.stringMatching(/^ParentBased\{root=AlwaysOffSampler,/)],
    [{ OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.1' }, expect.stringMatching(/^ParentBased\{root=TraceIdRatioBased\{0.1\},/)],
  ])('OTEL_TRACES_SAMPLER %j → %s', (env, expected) => {
    expect(samplerFromEnvironment(env)?.toString()).toEqual(expected);
  });
});
