// Peer for cluster fan-out: the Socket.IO baseline (bench/lib/sio-baseline.ts) as one of several
// nodes joined by the official Redis adapter (@socket.io/redis-adapter on ioredis), as a team would
// scale Socket.IO out. A `broadcast` emitted to any node reaches the room's sockets on every node.
// Env: PORT, REDIS_URL, SIO_KEY (the adapter's channel prefix: the Redis server may be shared).
import { createServer } from 'node:http';
import { Server } from 'socket.io';
import { createAdapter } from '@socket.io/redis-adapter';
import { Redis } from 'ioredis';

const pub = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
const sub = pub.duplicate();
await Promise.all([pub, sub].map((c) => (c.status === 'ready' ? null : new Promise((r) => c.once('ready', r)))));

const http = createServer();
const io = new Server(http, { transports: ['websocket'], perMessageDeflate: false });
io.adapter(createAdapter(pub, sub, { key: process.env.SIO_KEY ?? 'socket.io' }));
io.on('connection', (socket) => {
  const room = String(socket.handshake.query.room ?? '');
  void socket.join(room);
  socket.on('broadcast', (m: { room: string; payload: string }) => io.to(m.room).emit('m', m.payload));
});
// The adapter's (p)subscriptions are queued on `sub` before this PING, so its answer means they hold.
await sub.ping();
http.listen(Number(process.env.PORT), '127.0.0.1', () => console.log('socket.io redis-adapter node listening'));

const stop = () => {
  void io.close();
  pub.disconnect();
  sub.disconnect();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
