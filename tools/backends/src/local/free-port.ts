import { createServer } from 'node:net';

/**
 * A TCP port on `host` (loopback by default) that nothing listens on right now: the kernel
 * picks it for a probe listener, which is closed before the port is returned. The one probe
 * of the project, for local servers, test services and benchmarks alike.
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      server.close(() => {
        if (address !== null && typeof address === 'object') resolve(address.port);
        else reject(new Error('could not read the port of a probe listener'));
      });
    });
  });
}
