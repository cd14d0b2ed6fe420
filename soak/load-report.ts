// What the soak's load process (load.ts) is given and what it reports, one JSON line on
// stdout: the contract between it and the soak driver (soak.ts).

export interface LoadSettings {
  /** Base URLs of the gateways, used round-robin. */
  readonly gateways: readonly string[];
  /** Virtual clients in the steady phases. */
  readonly concurrency: number;
  readonly steadyBeforeMs: number;
  /** 0: no spike. */
  readonly spikeMs: number;
  /** Clients during the spike, as a multiple of `concurrency`. */
  readonly spikeFactor: number;
  readonly steadyAfterMs: number;
  /** A request not answered within this counts as a timeout (unexpected). */
  readonly requestTimeoutMs: number;
  /** Images read by the hot reads (never replaced or deleted). */
  readonly hotKeys: number;
  /** Upper bound on requests, whatever the durations. */
  readonly maxRequests: number;
  /** Addresses the spike's upload flood (half its clients) comes from; the other half: a fresh address per request. */
  readonly floodSources: number;
}

export type Phase = 'steady' | 'spike' | 'after';

export interface Unexpected {
  readonly op: string;
  readonly phase: Phase;
  /** The status, or `timeout` / `error: …` when no answer came. */
  readonly got: string;
  readonly expected: readonly number[];
  readonly why: string;
  /** Seconds since the phases began (for the setup uploads before them: since the process started). */
  readonly at: number;
  readonly gateway: string;
  /** The start of the response body. */
  readonly body: string;
}

export interface OpStats {
  readonly requests: number;
  readonly statuses: Record<string, number>;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

export interface LiveEntry {
  readonly imageKey: string;
  /** SHA-256 of the bytes a GET must serve. */
  readonly sha256: string;
  /** The last write was answered 202: the bytes are due once ingested. */
  readonly pending: boolean;
  readonly hot: boolean;
}

export interface Ledger {
  readonly live: readonly LiveEntry[];
  /** Images whose DELETE was acknowledged. */
  readonly deleted: readonly string[];
  /** Keys a 202 handed out for an upload the ingest then had to refuse (a truncated JPEG): never readable. */
  readonly neverReadable: readonly string[];
  /** Successful PATCHes (200 or 202) per update key used, by a short hash of the key. */
  readonly patchSuccessesByUpdateKey: Record<string, number>;
}

export interface LoadReport {
  readonly settings: LoadSettings;
  /** When the phases began (after the setup uploads), by the wall clock. */
  readonly startedAtEpochMs: number;
  readonly durationMs: number;
  /** Milliseconds from the start of the phases to the spike's first request and its last one's end. */
  readonly spikeWindowMs: { readonly from: number; readonly to: number } | undefined;
  readonly requests: number;
  readonly ops: Record<string, OpStats>;
  readonly phases: Record<string, { readonly requests: number; readonly statuses: Record<string, number> }>;
  readonly unexpectedCount: number;
  /** The first unexpected answers (at most 100). */
  readonly unexpected: readonly Unexpected[];
  readonly ledger: Ledger;
  readonly loadRssMaxBytes: number;
}
