import { errorMessage } from '@imagehost/errors';
import { SpanStatusCode, context, propagation, trace, type Span } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { BullMQOtel } from 'bullmq-otel';
import type { Telemetry } from 'bullmq';
import { batchOptionsFromEnvironment, samplerFromEnvironment, spanLimitsFromEnvironment } from './tracing-environment.js';

// OpenTelemetry tracing, off unless the standard OTLP variables point somewhere. The HTTP
// server span of each request is the root; BullMQ's telemetry carries its context in the job,
// so a worker's `process` span continues the trace of the request that queued it; MongoDB and
// S3 calls become child spans where their latency is already observed.

const TRACER_NAME = 'imagehost';
/** Ops endpoints scraped every few seconds: a span each would drown the traces that matter. */
const UNTRACED_PATHS = /^\/(metrics|healthz|readyz)(\?|$)/;

let provider: TracerProvider | undefined;
let jobTelemetry: Telemetry | undefined;

/** Whether the environment asks for traces (the OTel SDK's own variables). */
export function tracingRequested(env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.OTEL_SDK_DISABLED === 'true' || env.OTEL_TRACES_EXPORTER === 'none') return false;
  return (env.OTEL_EXPORTER_OTLP_ENDPOINT ?? env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? '') !== '' || env.OTEL_TRACES_EXPORTER === 'otlp';
}

/**
 * Starts tracing for `service` when the environment asks for it; call it first in `main`,
 * before any server listens. The exporter reads the `OTEL_EXPORTER_OTLP_*` variables itself.
 */
export function startTracing(service: string, env: NodeJS.ProcessEnv = process.env): boolean {
  if (provider !== undefined || !tracingRequested(env)) return provider !== undefined;
  provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': env.OTEL_SERVICE_NAME ?? `imagehost-${service}`, 'service.namespace': 'imagehost' }),
    sampler: samplerFromEnvironment(env),
    spanLimits: spanLimitsFromEnvironment(env),
    spanProcessors: [new BatchSpanProcessor({ exporter: new OTLPTraceExporter(), ...batchOptionsFromEnvironment(env) })],
  });
  // What the Node tracer provider's `register()` did before OpenTelemetry JS 3: the provider,
  // the AsyncLocalStorage context manager and the W3C trace-context and baggage propagators.
  trace.setGlobalTracerProvider(provider);
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] }));
  registerInstrumentations({
    instrumentations: [
      new HttpInstrumentation({
        ignoreIncomingRequestHook: (request) => UNTRACED_PATHS.test(request.url ?? ''),
        // S3 calls get spans named by operation where they are timed (`recordCall`).
        disableOutgoingRequestInstrumentation: true,
      }),
    ],
  });
  // The instrumentation patches `node:http` when it is next loaded (`getBuiltinModule` is
  // hooked as `require` is); the server's prototype is shared, so servers created afterwards
  // by any module are traced.
  process.getBuiltinModule('node:http');
  jobTelemetry = new BullMQOtel(TRACER_NAME);
  return true;
}

/** Whether `startTracing` turned tracing on in this process. */
export function tracingActive(): boolean {
  return provider !== undefined;
}

/** BullMQ's telemetry for queues and workers while tracing is on (`undefined` otherwise). */
export function queueTelemetry(): Telemetry | undefined {
  return jobTelemetry;
}

/** Sends the spans still buffered; part of a graceful shutdown. */
export async function stopTracing(): Promise<void> {
  await provider?.shutdown().catch(() => undefined);
}

/**
 * A finished backend call as a child span of whatever is active (a request, a job): the
 * call's observers see it after the fact, so the span is started in the past.
 */
export function recordCall(backend: 'mongodb' | 's3' | 'redis', operation: string, outcome: 'ok' | 'error' | 'unavailable', seconds: number): void {
  // Only inside a request or a job: readiness probes would each start a trace of their own.
  if (provider === undefined || trace.getActiveSpan() === undefined) return;
  const endTime = Date.now();
  const span = trace.getTracer(TRACER_NAME).startSpan(`${backend} ${operation}`, {
    startTime: endTime - seconds * 1000,
    attributes: { 'imagehost.backend': backend, 'imagehost.operation': operation, 'imagehost.outcome': outcome },
  });
  if (outcome !== 'ok') span.setStatus({ code: SpanStatusCode.ERROR, message: outcome });
  span.end(endTime);
}

/** Runs `work` in a child span named `name` (the decode, a purge step…). */
export async function inSpan<T>(name: string, work: (span: Span | undefined) => Promise<T>): Promise<T> {
  if (provider === undefined) return work(undefined);
  return trace.getTracer(TRACER_NAME).startActiveSpan(name, async (span) => {
    try {
      return await work(span);
    } catch (error) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: errorMessage(error) });
      throw error;
    } finally {
      span.end();
    }
  });
}

/** Names the active HTTP server span after its route (`GET /:imageKey`), as traces group by it. */
export function nameRequestSpan(method: string, route: string): void {
  const span = trace.getActiveSpan();
  if (span === undefined) return;
  span.updateName(`${method} ${route}`);
  span.setAttribute('http.route', route);
}
