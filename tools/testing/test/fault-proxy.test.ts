import { randomBytes } from 'node:crypto';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from '@jest/globals';
import { FaultProxy, waitFor } from '@imagehost/testing';

/** One connection as the backend saw it. */
interface BackendConnection {
  readonly socket: Socket;
  readonly chunks: Buffer[];
  /** Resolves when the backend's socket has closed. */
  readonly closed: Promise<void>;
}

interface Backend {
  readonly port: number;
  readonly connections: BackendConnection[];
  open(): number;
  received(index: number): Buffer;
  receivedLength(index: number): number;
}

/** Open sockets, servers and proxies of the running test, closed after it. */
const cleanups: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/**
 * A backend on 127.0.0.1: `echo` sends every byte back, `sink` only records them, `stall`
 * does not read at all (its sockets start paused, as a busy server's would be).
 */
async function startBackend(behaviour: 'echo' | 'sink' | 'stall' = 'echo'): Promise<Backend> {
  const connections: BackendConnection[] = [];
  const server: Server = createServer({ pauseOnConnect: behaviour === 'stall' }, (socket) => {
    const chunks: Buffer[] = [];
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    if (behaviour === 'echo') socket.pipe(socket);
    else socket.on('end', () => socket.end());
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    connections.push({ socket, chunks, closed });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(async () => {
    for (const { socket } of connections) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
  return {
    port: portOf(server),
    connections,
    open: () => connections.filter(({ socket }) => !socket.destroyed).length,
    received: (index) => Buffer.concat(connections[index]?.chunks ?? []),
    receivedLength: (index) => (connections[index]?.chunks ?? []).reduce((sum, chunk) => sum + chunk.length, 0),
  };
}

function portOf(server: Server): number {
  const address = server.address();
  if (address === null || typeof address !== 'object') throw new Error('no port');
  return address.port;
}

async function startProxy(backend: Backend): Promise<FaultProxy> {
  const proxy = await FaultProxy.start({ host: '127.0.0.1', port: backend.port });
  cleanups.push(() => proxy.stop());
  return proxy;
}

interface Client {
  readonly socket: Socket;
  readonly connected: Promise<void>;
  /** Resolves when the socket has closed, with the error code it closed with, if any. */
  readonly closed: Promise<string | undefined>;
  received(): Buffer;
}

function openClient(port: number): Client {
  const socket = connect({ host: '127.0.0.1', port });
  const chunks: Buffer[] = [];
  let errorCode: string | undefined;
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('error', (error: NodeJS.ErrnoException) => {
    errorCode = error.code;
  });
  const connected = new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  const closed = new Promise<string | undefined>((resolve) => socket.on('close', () => resolve(errorCode)));
  cleanups.push(() => {
    socket.destroy();
  });
  return { socket, connected, closed, received: () => Buffer.concat(chunks) };
}

async function until(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  await waitFor(what, async () => (check() ? true : undefined), timeoutMs, 5);
}

/** Rejects when `promise` takes longer than `timeoutMs`. */
async function within<T>(what: string, promise: Promise<T>, timeoutMs = 10_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Sends `text` and waits for the echo; returns the round-trip time in ms. */
async function roundTrip(client: Client, text: string): Promise<number> {
  const before = client.received().length;
  const start = Date.now();
  client.socket.write(text);
  await until(`the echo of ${text}`, () => client.received().length >= before + text.length);
  const elapsed = Date.now() - start;
  expect(client.received().subarray(before).toString()).toBe(text);
  return elapsed;
}

describe('FaultProxy', () => {
  it('passes 5 MiB both ways byte for byte', async () => {
    const backend = await startBackend('echo');
    const proxy = await startProxy(backend);
    const data = randomBytes(5 * 1024 * 1024);

    const client = openClient(proxy.port);
    client.socket.end(data);

    expect(await within('the client to close', client.closed, 30_000)).toBeUndefined();
    expect(backend.received(0).equals(data)).toBe(true);
    expect(client.received().length).toBe(data.length);
    expect(client.received().equals(data)).toBe(true);
  });

  it('stops reading from the client while the backend does not read, then delivers everything', async () => {
    const backend = await startBackend('stall');
    const proxy = await startProxy(backend);
    const total = 64 * 1024 * 1024;
    const chunk = randomBytes(64 * 1024);

    // One chunk at a time, the next once the kernel took the last: `flushed` is what left the
    // client, which a proxy reading without bound would soon make the whole 64 MiB.
    const client = openClient(proxy.port);
    let flushed = 0;
    const writeNext = (): void => {
      if (flushed < total) client.socket.write(chunk, (error) => {
        if (error === undefined || error === null) {
          flushed += chunk.length;
          writeNext();
        }
      });
    };
    writeNext();
    // A window in which the client could send everything if the proxy kept reading: the
    // backpressure is the behaviour under test, so no event marks its end.
    await sleep(200);

    // Kernel buffers on both hops hold a few MiB, the proxy QUEUE_LIMIT more.
    expect(flushed).toBeGreaterThan(0);
    expect(flushed).toBeLessThan(total / 2);

    backend.connections[0]?.socket.resume();
    await until('all bytes at the backend', () => backend.receivedLength(0) === total, 30_000);
    expect(flushed).toBe(total);
    const received = backend.received(0);
    for (let offset = 0; offset < total; offset += chunk.length) {
      if (!received.subarray(offset, offset + chunk.length).equals(chunk)) throw new Error(`bytes differ at ${offset}`);
    }
  });

  it('refuse resets open connections and every new one, and pass lets clients in again', async () => {
    const backend = await startBackend('echo');
    const proxy = await startProxy(backend);
    const open = openClient(proxy.port);
    await roundTrip(open, 'hello');

    proxy.setMode('refuse');
    expect(await within('the open client to close', open.closed)).toBe('ECONNRESET');
    await within('the backend side to close', backend.connections[0]?.closed ?? Promise.reject(new Error('no backend connection')));

    const refused = openClient(proxy.port);
    expect(await within('the new client to close', refused.closed)).toBe('ECONNRESET');
    expect(refused.received().length).toBe(0);
    expect(backend.connections).toHaveLength(1);
    expect(proxy.stats()).toEqual({ open: 0, accepted: 2 });

    proxy.setMode('pass');
    await roundTrip(openClient(proxy.port), 'back');
  });

  it('blackhole accepts connections but forwards nothing, then delivers the held bytes in order on pass', async () => {
    const backend = await startBackend('echo');
    const proxy = await startProxy(backend);
    const early = openClient(proxy.port);
    await roundTrip(early, 'a');

    proxy.setMode('blackhole');
    early.socket.write('bc');
    early.socket.write('d');
    const late = openClient(proxy.port);
    await within('the connect during the blackhole', late.connected);
    late.socket.write('xyz');
    // A window in which nothing may pass is the behaviour under test.
    await sleep(300);

    expect(early.received().toString()).toBe('a');
    expect(late.received().length).toBe(0);
    expect(backend.received(0).toString()).toBe('a');
    expect(proxy.stats().open).toBe(2);

    proxy.setMode('pass');
    await until('the held echoes', () => early.received().length === 4 && late.received().length === 3);
    expect(early.received().toString()).toBe('abcd');
    expect(late.received().toString()).toBe('xyz');
  });

  it('lets go of a client that hangs up during a blackhole', async () => {
    const backend = await startBackend('echo');
    const proxy = await startProxy(backend);
    proxy.setMode('blackhole');

    const client = openClient(proxy.port);
    await within('the connect', client.connected);
    client.socket.end('never answered');
    await until('the proxy to drop the connection', () => proxy.stats().open === 0);
    await until('the backend side to close', () => backend.connections.length === 1 && backend.open() === 0);
    expect(backend.received(0).length).toBe(0);
  });

  it('latency delays each direction by at least the set time', async () => {
    const backend = await startBackend('echo');
    const proxy = await startProxy(backend);
    const client = openClient(proxy.port);
    await roundTrip(client, 'warm');

    proxy.setLatency(100);
    expect(await roundTrip(client, 'slow')).toBeGreaterThanOrEqual(200);
  });

  it('latency never lets a later chunk overtake an earlier one', async () => {
    const backend = await startBackend('echo');
    const proxy = await startProxy(backend);
    const client = openClient(proxy.port);
    await within('the connect', client.connected);

    proxy.setLatency(150);
    client.socket.write('first');
    // 'first' is in the proxy's delay when the latency is lifted: the order is under test.
    await sleep(20);
    proxy.setLatency(0);
    client.socket.write('second');

    await until('both echoes', () => client.received().length === 'firstsecond'.length);
    expect(client.received().toString()).toBe('firstsecond');
  });

  it('cutAll resets every open connection on both sides and new ones still pass', async () => {
    const backend = await startBackend('echo');
    const proxy = await startProxy(backend);
    const clients = [openClient(proxy.port), openClient(proxy.port)];
    for (const client of clients) await roundTrip(client, 'ping');

    proxy.cutAll();

    for (const client of clients) expect(await within('the client to close', client.closed)).toBe('ECONNRESET');
    await until('the backend sides to close', () => backend.open() === 0);
    await until('the proxy to forget them', () => proxy.stats().open === 0);
    await roundTrip(openClient(proxy.port), 'again');
  });

  it('cutAfterClientBytes hands the backend exactly the first bytes, then ends it, and resets the client', async () => {
    const backend = await startBackend('sink');
    const proxy = await startProxy(backend);
    proxy.cutAfterClientBytes(1000);
    const data = randomBytes(5000);

    const client = openClient(proxy.port);
    client.socket.write(data.subarray(0, 700));
    await until('the first chunk at the backend', () => backend.receivedLength(0) === 700);
    client.socket.write(data.subarray(700));

    expect(await within('the client to close', client.closed)).toBeDefined();
    await within('the backend side to close', backend.connections[0]?.closed ?? Promise.reject(new Error('no backend connection')));
    expect(backend.received(0).equals(data.subarray(0, 1000))).toBe(true);
    await until('the proxy to forget it', () => proxy.stats().open === 0);
  });

  it('cutAfterClientBytes applies to open connections, stops after `times` cuts, and null turns it off', async () => {
    const backend = await startBackend('echo');
    const proxy = await startProxy(backend);
    const pooled = openClient(proxy.port);
    await roundTrip(pooled, 'before the rule');

    proxy.cutAfterClientBytes(10, { times: 1 });
    pooled.socket.write('0123456789abcdef');
    await within('the pooled client to close', pooled.closed);
    await within('the backend side to close', backend.connections[0]?.closed ?? Promise.reject(new Error('no backend connection')));
    expect(backend.received(0).toString()).toBe('before the rule0123456789');

    await roundTrip(openClient(proxy.port), 'the rule was used up');

    proxy.cutAfterClientBytes(3);
    proxy.cutAfterClientBytes(null);
    await roundTrip(openClient(proxy.port), 'the rule is off');
  });

  it('stats counts open connections and returns to 0 once clients leave', async () => {
    const backend = await startBackend('echo');
    const proxy = await startProxy(backend);
    const clients = [openClient(proxy.port), openClient(proxy.port)];
    for (const client of clients) await roundTrip(client, 'here');
    expect(proxy.stats()).toEqual({ open: 2, accepted: 2 });

    for (const client of clients) client.socket.end();
    await until('no open connection', () => proxy.stats().open === 0);
    expect(proxy.stats()).toEqual({ open: 0, accepted: 2 });
    expect(backend.open()).toBe(0);
  });

  it('resets the client when the backend cannot be reached', async () => {
    const gone = createServer();
    await new Promise<void>((resolve) => gone.listen(0, '127.0.0.1', resolve));
    const port = portOf(gone);
    await new Promise((resolve) => gone.close(resolve));
    const proxy = await FaultProxy.start({ host: '127.0.0.1', port });
    cleanups.push(() => proxy.stop());

    const client = openClient(proxy.port);
    await within('the client to close', client.closed);
    expect(client.received().length).toBe(0);
    await until('the proxy to forget it', () => proxy.stats().open === 0);
  });

  it('stop closes every connection and the port', async () => {
    const backend = await startBackend('echo');
    const proxy = await FaultProxy.start({ host: '127.0.0.1', port: backend.port });
    const client = openClient(proxy.port);
    await roundTrip(client, 'bye');

    await within('stop', proxy.stop());
    await within('stop again', proxy.stop());

    expect(proxy.stats().open).toBe(0);
    await within('the client to close', client.closed);
    await until('the backend side to close', () => backend.open() === 0);
    expect(await within('a refused connect', openClient(proxy.port).closed)).toBe('ECONNREFUSED');
  });

  it('proxiedUrl points a URL at the proxy and keeps everything else', async () => {
    const backend = await startBackend('echo');
    const proxy = await startProxy(backend);
    const at = `127.0.0.1:${proxy.port}`;

    expect(proxy.address).toBe(at);
    expect(proxy.proxiedUrl('redis://:secret@localhost:6379/2')).toBe(`redis://:secret@${at}/2`);
    expect(proxy.proxiedUrl('mongodb://user:p%40ss@db1:27017,db2:27018/app?directConnection=true')).toBe(
      `mongodb://user:p%40ss@${at}/app?directConnection=true`,
    );
    expect(proxy.proxiedUrl('http://[::1]:9000')).toBe(`http://${at}`);
    expect(proxy.proxiedUrl('http://s3.local:9000/bucket/key?x=1#f')).toBe(`http://${at}/bucket/key?x=1#f`);
    expect(() => proxy.proxiedUrl('mongodb+srv://cluster.example.com/app')).toThrow(/mongodb\+srv/);
    expect(() => proxy.proxiedUrl('not a url')).toThrow();
  });
});
