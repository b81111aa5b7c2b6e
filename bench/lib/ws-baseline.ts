// Baseline: what a team would write with raw `ws`: sockets joined to rooms (?room=), and a control
// message `{"broadcast": room, "payload": …}` that sends the payload to every socket of the room.
import { WebSocketServer, type WebSocket } from 'ws';

const rooms = new Map<string, Set<WebSocket>>();
const wss = new WebSocketServer({ port: Number(process.env.PORT), host: '127.0.0.1', perMessageDeflate: false });
wss.on('connection', (ws, req) => {
  const room = new URL(req.url ?? '/', 'http://x').searchParams.get('room') ?? '';
  let set = rooms.get(room);
  if (!set) rooms.set(room, (set = new Set()));
  set.add(ws);
  ws.on('close', () => set!.delete(ws));
  ws.on('message', (raw) => {
    const m = JSON.parse(raw.toString()) as { broadcast: string; payload: string };
    for (const peer of rooms.get(m.broadcast) ?? []) peer.send(m.payload);
  });
});
wss.on('listening', () => console.log('ws baseline listening'));
