// Run by client-portable.test.ts in a Node started with --experimental-websocket: the typed client
// against a live server with only the standard WebSocket (what a browser has), counting that the
// platform's socket is the one used. Prints one JSON line with what it saw.
import { MeetingClient } from '../../client/agora.ts';
import { RealtimeClient } from '../../client/realtime.ts';

const [baseUrl, appId, customerId, customerSecret] = process.argv.slice(2) as [string, string, string, string];
const Native = (globalThis as { WebSocket?: new (url: string) => unknown }).WebSocket;
if (!Native) throw new Error('no global WebSocket: run with --experimental-websocket');
let opened = 0;
(globalThis as { WebSocket?: unknown }).WebSocket = class extends (Native as new (url: string) => object) {
  constructor(url: string) {
    super(url);
    opened++;
  }
};

const opts = { baseUrl, appId, customerId, customerSecret };
const host = new MeetingClient(opts);
await host.enter({ roomName: 'Portable', roomUuid: 'portable', userName: 'Host', userUuid: 'host' });
const rt = new RealtimeClient({ baseUrl, token: host.userToken, reconnectDelayMs: 50 });
await rt.connect();
await rt.waitFor((m) => m.type === 'snapshot');
await host.chat('before the drop');
await rt.waitFor((m) => m.type === 'channel' && m.cmd === 1);
const seqBefore = rt.lastSeq;
rt.drop();
await host.chat('while away');
await rt.waitFor((m) => m.type === 'channel' && m.cmd === 1 && m.data.message === 'while away', 10_000);
const result = { opened, seqBefore, lastSeq: rt.lastSeq, chat: rt.state.chat.map((c) => c.message), online: rt.state.onlineUsers };
await rt.close();
console.log(JSON.stringify(result));
