/** Jest global teardown: stops whatever the global setup started. */
export default async function globalTeardown(): Promise<void> {
  await globalThis.imagehostTestBackends?.stop();
  globalThis.imagehostTestBackends = undefined;
}
