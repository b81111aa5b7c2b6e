// The client API calls of bench/scale.ts over one keep-alive agent (node:http: lighter than fetch on
// a machine where the load generator shares the cores with the server). Any answer other than
// HTTP 200 with `code: 0` throws: the bench counts it as a failed request.
import http from 'node:http';

export interface Member {
  roomId: string;
  userToken: string;
}

export class Api {
  private readonly agent: http.Agent;
  private readonly auth: string;
  private readonly base: string;

  constructor(url: string, creds: { appId: string; customerId: string; customerSecret: string }, maxSockets: number) {
    this.agent = new http.Agent({ keepAlive: true, maxSockets });
    this.auth = `Basic ${Buffer.from(`${creds.customerId}:${creds.customerSecret}`).toString('base64')}`;
    this.base = `${url}/apps/${creds.appId}/v1/room`;
  }

  /** E1: enter (or create) the room `roomUuid` as `userUuid`. */
  async enter(roomUuid: string, userUuid: string): Promise<Member> {
    const body = { roomName: roomUuid, roomUuid, userName: userUuid, userUuid };
    return (await this.call('POST', '/entry', body)) as Member;
  }

  /** E2: room info as the member holding `token`. */
  async roomInfo(roomId: string, token: string): Promise<void> {
    await this.call('GET', `/${roomId}`, undefined, token);
  }

  /** E12: chat to the room as the member holding `token`. */
  async chat(roomId: string, token: string, message: string): Promise<void> {
    await this.call('POST', `/${roomId}/chat`, { message }, token);
  }

  close(): void {
    this.agent.destroy();
  }

  private call(method: string, path: string, body?: unknown, token?: string): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const text = body === undefined ? undefined : JSON.stringify(body);
      const headers: Record<string, string | number> = { authorization: this.auth };
      if (text !== undefined) {
        headers['content-type'] = 'application/json';
        headers['content-length'] = Buffer.byteLength(text);
      }
      if (token) headers.token = token;
      const req = http.request(`${this.base}${path}`, { method, agent: this.agent, headers }, (res) => {
        let out = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (out += d));
        res.on('end', () => {
          try {
            const env = JSON.parse(out) as { code: number; msg?: string; data: unknown };
            if (res.statusCode !== 200 || env.code !== 0) throw new Error(`${method} ${path}: HTTP ${res.statusCode} ${out.slice(0, 200)}`);
            resolve(env.data);
          } catch (err) {
            reject(err instanceof SyntaxError ? new Error(`${method} ${path}: HTTP ${res.statusCode} ${out.slice(0, 200)}`) : err);
          }
        });
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(text);
    });
  }
}
