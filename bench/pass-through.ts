// The least any gateway in Node can do for a cold read: a bare HTTP server, in its own
// process, that streams the S3 object named by the path and nothing else — no record lookup,
// no framework, no logging. `npm run bench` reads the cold images through it too, so every
// run shows how close to direct S3 proxying bytes on this machine can get at all: the
// service's cold reads are bounded by this, not by the floor.
import { createServer, type IncomingMessage } from 'node:http';
import { ObjectStore } from '@imagehost/storage';

const settings = JSON.parse(process.env.PASS_THROUGH_S3 ?? '{}') as ConstructorParameters<typeof ObjectStore>[0];
const objects = new ObjectStore(settings);

const server = createServer((request, response) => {
  const objectKey = decodeURIComponent((request.url ?? '/').slice(1));
  objects.openObject(objectKey).then(
    (stream) => {
      if (stream === undefined) {
        response.writeHead(404).end();
        return;
      }
      // The store hands back S3's response itself: its length goes on as the gateway's does.
      const length = (stream as IncomingMessage).headers['content-length'];
      response.writeHead(200, { 'content-type': 'application/octet-stream', ...(length === undefined ? {} : { 'content-length': length }) });
      stream.pipe(response);
    },
    () => response.writeHead(503).end(),
  );
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.send?.({ port: typeof address === 'object' && address !== null ? address.port : 0 });
});
process.on('disconnect', () => process.exit(0));
