/** Connection settings for an S3-compatible object store. */
export interface S3Settings {
  /** Base URL, e.g. `http://127.0.0.1:9000`. */
  readonly endpoint: string;
  readonly accessKey: string;
  readonly secretKey: string;
  readonly region: string;
  /** The bucket the services use; created by the services when missing. */
  readonly bucket: string;
}

/** Where a backend came from, in the order they are tried. */
export type BackendSource = 'environment' | 'container' | 'local-process';

/** A running backend (or one given by URL) and how to let go of it. */
export interface ProvidedBackend<T> {
  readonly settings: T;
  readonly source: BackendSource;
  /** Stops what this module started; a no-op for backends given by URL. */
  readonly stop: () => Promise<void>;
}

/** Connection settings for the three backends every service needs. */
export interface BackendSettings {
  readonly redisUrl: string;
  readonly mongoUrl: string;
  readonly s3: S3Settings;
}

export interface Backends {
  readonly settings: BackendSettings;
  readonly sources: { readonly redis: BackendSource; readonly mongo: BackendSource; readonly s3: BackendSource };
  /** Stops every backend this module started, in parallel. Safe to call twice. */
  readonly stop: () => Promise<void>;
}

/** Thrown when a backend can be neither found nor started; the message says what to provide. */
export class BackendUnavailableError extends Error {
  override readonly name = 'BackendUnavailableError';
}
