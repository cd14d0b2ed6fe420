import { randomInt } from 'node:crypto';
import { Agent, request as httpRequest, type IncomingHttpHeaders } from 'node:http';

// The HTTP side of the soak's virtual clients.

export interface Reply {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

/** A keep-alive HTTP client that reads every body to its end and gives up after `timeoutMs`. */
export class HttpClient {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 512 });

  constructor(private readonly timeoutMs: number) {}

  send(url: string, method: string, headers: Record<string, string> = {}, body?: Buffer): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const allHeaders = body === undefined ? headers : { ...headers, 'content-length': String(body.length) };
      const req = httpRequest(url, { method, agent: this.agent, headers: allHeaders }, (res) => {
        const chunks: Buffer[] = [];
        let ended = false;
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          ended = true;
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) });
        });
        res.on('close', () => {
          if (!ended) reject(new Error('the response ended before its body'));
        });
        res.on('error', reject);
      });
      const timer = setTimeout(() => req.destroy(new Error('timeout')), this.timeoutMs);
      req.on('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
      req.end(body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/** Who a virtual client is to the gateway's per-client limits (the gateway trusts X-Forwarded-For from loopback). */
export class ClientIdentity {
  constructor(
    /** A fixed address (the flood), or undefined: a fresh address per request, as many distinct users. */
    private readonly fixed: string | undefined,
  ) {}

  get flood(): boolean {
    return this.fixed !== undefined;
  }

  address(): string {
    return this.fixed ?? `10.${randomInt(256)}.${randomInt(256)}.${randomInt(1, 255)}`;
  }
}
