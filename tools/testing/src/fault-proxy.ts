import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * What a {@link FaultProxy} does with traffic.
 *
 * - `pass`: bytes flow both ways (after the latency, if one is set).
 * - `refuse`: the backend is down. A new connection is accepted and reset at once (the client
 *   sees `ECONNRESET`, not `ECONNREFUSED`: the proxy keeps its port); open connections are
 *   reset on both sides when the mode is set.
 * - `blackhole`: the backend hangs. Connections are accepted, new and open ones stay open, and
 *   no byte goes either way. Bytes received meanwhile are held, not dropped (at most 1 MiB per
 *   direction and connection; then the proxy stops reading, as a full TCP window would), and
 *   flow again in order when the mode goes back to `pass`. A client that hangs up during a
 *   blackhole is let go at once (both sides reset, its held bytes dropped), so `stats().open`
 *   follows the client's sockets.
 */
export type FaultMode = 'pass' | 'refuse' | 'blackhole';

export interface FaultTarget {
  readonly host: string;
  readonly port: number;
}

export interface FaultProxyStats {
  /** Connections the proxy holds right now (client side or backend side not yet closed). */
  readonly open: number;
  /** Connections accepted since the start, including those reset at once in `refuse` mode. */
  readonly accepted: number;
}

/**
 * Bytes held per direction and connection (for latency or a blackhole) before the proxy stops
 * reading from the sender. It bounds memory, and also throughput under latency: about
 * `QUEUE_LIMIT / latency` bytes a second.
 */
const QUEUE_LIMIT = 1024 * 1024;

/** How long a backend cut by `cutAfterClientBytes` may take to close its side after our EOF. */
const CUT_GRACE_MS = 1_000;

/** The proxy's current settings, shared with (and read by) every connection. */
interface ProxySettings {
  mode: FaultMode;
  latencyMs: number;
}

interface ConnectionEvents {
  cutTriggered(): void;
  closed(connection: Connection): void;
}

type Item =
  | { readonly kind: 'data'; readonly due: number; readonly chunk: Buffer }
  | { readonly kind: 'end'; readonly due: number }
  | { readonly kind: 'cut'; readonly due: number };

/** A queue with O(1) removal at the head: `Array.shift` is linear and chunks can be tiny. */
class Fifo<T> {
  private items: T[] = [];
  private head = 0;

  get size(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    this.items.push(item);
  }

  peek(): T | undefined {
    return this.items[this.head];
  }

  shift(): void {
    this.head += 1;
    if (this.head === this.items.length) this.clear();
    else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }

  clear(): void {
    this.items = [];
    this.head = 0;
  }
}

interface Direction {
  readonly from: Socket;
  readonly to: Socket;
  readonly queue: Fifo<Item>;
  queuedBytes: number;
  /** `to.write` returned false: nothing more is written until 'drain'. */
  waitingForDrain: boolean;
  /** We paused `from` because the queue is full. */
  paused: boolean;
  /** No more input is taken from `from` (its end is queued, or the connection was cut). */
  inputClosed: boolean;
  timer: NodeJS.Timeout | undefined;
}

// Resets are what this proxy is for, and 'close' says whether one happened; an 'error'
// listener only has to exist so that a reset never becomes an uncaught exception.
function ignoreSocketError(): void {}

/** Closes a socket with an RST, as a crashed peer or a broken network would. */
function resetSocket(socket: Socket): void {
  if (socket.destroyed) return;
  // A socket still connecting cannot send an RST yet; Node would wait for the connect.
  if (socket.connecting) socket.destroy();
  else socket.resetAndDestroy();
}

function direction(from: Socket, to: Socket): Direction {
  return { from, to, queue: new Fifo<Item>(), queuedBytes: 0, waitingForDrain: false, paused: false, inputClosed: false, timer: undefined };
}

/** One client connection and its backend connection, with a queue in each direction. */
class Connection {
  readonly closed: Promise<void>;
  private readonly toBackend: Direction;
  private readonly toClient: Direction;
  private markClosed: () => void = () => undefined;
  private openSockets = 2;
  private cutBudget: number | null;
  private cutting = false;
  private graceTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly client: Socket,
    private readonly backend: Socket,
    private readonly settings: ProxySettings,
    private readonly events: ConnectionEvents,
    cutBudget: number | null,
  ) {
    this.cutBudget = cutBudget;
    this.closed = new Promise((resolve) => {
      this.markClosed = resolve;
    });
    this.toBackend = direction(client, backend);
    this.toClient = direction(backend, client);
    for (const dir of [this.toBackend, this.toClient]) {
      dir.from.on('error', ignoreSocketError);
      dir.from.on('close', (hadError) => this.socketClosed(hadError));
      dir.from.on('data', (chunk: Buffer) => this.receive(dir, chunk));
      dir.from.on('end', () => this.receiveEnd(dir));
      // `dir.to` is the destination of this direction only, so its 'drain' concerns this one.
      dir.to.on('drain', () => {
        dir.waitingForDrain = false;
        this.pump(dir);
      });
    }
  }

  /** Arms (or, with null, disarms) the byte budget after which this connection is cut. */
  armCut(bytes: number | null): void {
    if (!this.cutting) this.cutBudget = bytes;
  }

  /** Forwards what may go now; called when the mode goes back to `pass`. */
  flush(): void {
    this.pump(this.toBackend);
    this.pump(this.toClient);
  }

  /** Resets both sides now and drops whatever is held. */
  reset(): void {
    for (const dir of [this.toBackend, this.toClient]) {
      clearTimeout(dir.timer);
      dir.timer = undefined;
      dir.queue.clear();
      dir.queuedBytes = 0;
      dir.inputClosed = true;
    }
    clearTimeout(this.graceTimer);
    resetSocket(this.client);
    resetSocket(this.backend);
  }

  private receive(dir: Direction, chunk: Buffer): void {
    if (dir.inputClosed) return;
    const due = Date.now() + this.settings.latencyMs;
    let data = chunk;
    let cut = false;
    if (dir === this.toBackend && this.cutBudget !== null) {
      if (chunk.length >= this.cutBudget) {
        data = chunk.subarray(0, this.cutBudget);
        cut = true;
      } else {
        this.cutBudget -= chunk.length;
      }
    }
    if (data.length > 0) {
      dir.queue.push({ kind: 'data', due, chunk: data });
      dir.queuedBytes += data.length;
    }
    if (cut) {
      dir.queue.push({ kind: 'cut', due });
      dir.inputClosed = true;
      this.cutBudget = null;
      this.events.cutTriggered();
    } else if (dir.queuedBytes >= QUEUE_LIMIT && !dir.paused) {
      dir.paused = true;
      dir.from.pause();
    }
    this.pump(dir);
  }

  private receiveEnd(dir: Direction): void {
    if (dir.inputClosed) return;
    if (dir === this.toBackend && this.settings.mode === 'blackhole') {
      this.reset();
      return;
    }
    dir.queue.push({ kind: 'end', due: Date.now() + this.settings.latencyMs });
    dir.inputClosed = true;
    this.pump(dir);
  }

  /** Writes every item that is due, in order, until the destination pushes back. */
  private pump(dir: Direction): void {
    while (!dir.waitingForDrain && this.settings.mode === 'pass') {
      const item = dir.queue.peek();
      if (item === undefined) break;
      const wait = item.due - Date.now();
      if (wait > 0) {
        dir.timer ??= setTimeout(() => {
          dir.timer = undefined;
          this.pump(dir);
        }, wait);
        return;
      }
      dir.queue.shift();
      switch (item.kind) {
        case 'data':
          dir.queuedBytes -= item.chunk.length;
          if (!dir.to.write(item.chunk)) dir.waitingForDrain = true;
          break;
        case 'end':
          dir.to.end();
          break;
        case 'cut':
          this.cut();
          return;
      }
    }
    if (dir.paused && dir.queuedBytes < QUEUE_LIMIT && !dir.from.destroyed) {
      dir.paused = false;
      dir.from.resume();
    }
  }

  /**
   * The backend gets exactly the bytes that went through, then an EOF (a reset could discard
   * bytes still in the kernel's buffers); the client gets a reset.
   */
  private cut(): void {
    this.cutting = true;
    clearTimeout(this.toClient.timer);
    this.toClient.queue.clear();
    this.toClient.queuedBytes = 0;
    this.toClient.inputClosed = true;
    // Keep reading what the backend still sends (and drop it) so that it can close its side.
    this.backend.resume();
    this.backend.end();
    resetSocket(this.client);
    this.graceTimer = setTimeout(() => resetSocket(this.backend), CUT_GRACE_MS);
  }

  private socketClosed(hadError: boolean): void {
    this.openSockets -= 1;
    if (this.openSockets === 0) {
      clearTimeout(this.toBackend.timer);
      clearTimeout(this.toClient.timer);
      clearTimeout(this.graceTimer);
      this.events.closed(this);
      this.markClosed();
    } else if (hadError && !this.cutting) {
      // One side was reset or failed (a failed backend connect included): so is the other.
      this.reset();
    }
  }
}

/**
 * A TCP proxy on 127.0.0.1 in front of one backend (Redis, a MongoDB-protocol server, an S3
 * server…) that injects real outages: refused and hanging backends, latency, dropped
 * connections and connections cut mid-request. Point the code under test at
 * {@link FaultProxy.proxiedUrl} instead of the backend's URL.
 *
 * For a MongoDB replica set member, add `directConnection=true` to the proxied URL, or the
 * driver will discover the members' own addresses and go around the proxy.
 */
export class FaultProxy {
  private readonly connections = new Set<Connection>();
  private readonly settings: ProxySettings = { mode: 'pass', latencyMs: 0 };
  private readonly events: ConnectionEvents = {
    cutTriggered: () => this.cutTriggered(),
    closed: (connection) => this.connections.delete(connection),
  };
  private cutRule: { bytes: number; remaining: number } | null = null;
  private accepted = 0;
  private listeningPort = 0;
  private stopping: Promise<void> | undefined;

  private constructor(
    private readonly server: Server,
    readonly target: FaultTarget,
  ) {
    server.on('connection', (client: Socket) => this.accept(client));
    // Accept errors (EMFILE…) are reported here; they must not crash the test process.
    server.on('error', ignoreSocketError);
  }

  /** Starts a proxy to `target`, listening on 127.0.0.1 on a free port, in `pass` mode. */
  static async start(target: FaultTarget): Promise<FaultProxy> {
    const server = createServer({ allowHalfOpen: true });
    const proxy = new FaultProxy(server, { host: target.host, port: target.port });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    const address = server.address();
    if (address === null || typeof address !== 'object') throw new Error('the fault proxy has no TCP address');
    proxy.listeningPort = address.port;
    return proxy;
  }

  /** The port the proxy listens on (on 127.0.0.1). */
  get port(): number {
    return this.listeningPort;
  }

  /** `127.0.0.1:<port>` of the proxy. */
  get address(): string {
    return `127.0.0.1:${this.listeningPort}`;
  }

  /**
   * `url` (`redis://…`, `mongodb://…`, `http://…`) with its host and port replaced by the
   * proxy's; user, password, path and query are kept. A list of hosts becomes the proxy alone.
   */
  proxiedUrl(url: string): string {
    const match = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#]*@)?([^/?#]*)(.*)$/i.exec(url);
    if (match === null || match[3] === '') throw new Error(`not a URL with a host: ${url}`);
    const scheme = match[1] ?? '';
    if (scheme.toLowerCase() === 'mongodb+srv://') throw new Error('a mongodb+srv:// URL names no host and port to proxy; use mongodb://');
    return `${scheme}${match[2] ?? ''}${this.address}${match[4] ?? ''}`;
  }

  /** Switches the mode (see {@link FaultMode}); takes effect at once for open connections. */
  setMode(mode: FaultMode): void {
    this.settings.mode = mode;
    switch (mode) {
      case 'pass':
        for (const connection of this.connections) connection.flush();
        break;
      case 'refuse':
        this.cutAll();
        break;
      case 'blackhole':
        break;
    }
  }

  /**
   * Delays every chunk received from now on, in either direction, by `ms` (a round trip takes
   * at least twice that). Order is kept per direction: a chunk never overtakes an earlier one,
   * even when the latency is lowered.
   */
  setLatency(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`latency must be a non-negative number of ms, got ${ms}`);
    this.settings.latencyMs = ms;
  }

  /** Resets every open connection, both sides, now: "Redis restarted", "network blip". */
  cutAll(): void {
    for (const connection of this.connections) connection.reset();
  }

  /**
   * Cuts connections once `bytes` bytes have gone from the client to the backend: the backend
   * receives exactly those bytes then an EOF, the client gets a reset (a connection cut
   * mid-PUT). Applies to open connections, counting from this call, and to new ones, counting
   * from their start. `times` limits how many connections are cut before the rule turns itself
   * off (default: no limit). `null` turns it off.
   */
  cutAfterClientBytes(bytes: number | null, options: { times?: number } = {}): void {
    if (bytes === null) {
      this.cutRule = null;
    } else {
      if (!Number.isSafeInteger(bytes) || bytes < 0) throw new RangeError(`bytes must be a non-negative integer, got ${bytes}`);
      const times = options.times ?? Number.POSITIVE_INFINITY;
      if (!(times >= 1)) throw new RangeError(`times must be at least 1, got ${times}`);
      this.cutRule = { bytes, remaining: times };
    }
    for (const connection of this.connections) connection.armCut(bytes);
  }

  /** Connections open now and accepted so far, for "no socket pile-up" assertions. */
  stats(): FaultProxyStats {
    return { open: this.connections.size, accepted: this.accepted };
  }

  /** Stops listening and resets every connection; resolves once every socket is closed. */
  async stop(): Promise<void> {
    this.stopping ??= (async () => {
      const listenerClosed = new Promise<void>((resolve) => this.server.close(() => resolve()));
      this.cutAll();
      // Reset sockets close at once; the bound only keeps a teardown from ever hanging on one.
      let timer: NodeJS.Timeout | undefined;
      const bound = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, 5_000);
      });
      await Promise.race([Promise.all([listenerClosed, ...[...this.connections].map((connection) => connection.closed)]), bound]);
      clearTimeout(timer);
    })();
    return this.stopping;
  }

  private accept(client: Socket): void {
    this.accepted += 1;
    client.on('error', ignoreSocketError);
    if (this.settings.mode === 'refuse' || this.stopping !== undefined) {
      resetSocket(client);
      return;
    }
    client.setNoDelay(true);
    const backend = connect({ host: this.target.host, port: this.target.port, allowHalfOpen: true, noDelay: true });
    this.connections.add(new Connection(client, backend, this.settings, this.events, this.cutRule?.bytes ?? null));
  }

  private cutTriggered(): void {
    if (this.cutRule === null) return;
    this.cutRule.remaining -= 1;
    if (this.cutRule.remaining <= 0) this.cutAfterClientBytes(null);
  }
}
