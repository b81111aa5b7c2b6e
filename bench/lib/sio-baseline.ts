// Baseline: a Socket.IO server with rooms; `broadcast` events re-emit the payload to the room.
import { createServer } from 'node:http';
import { Server } from 'socket.io';

const http = createServer();
const io = new Server(http, { transports: ['websocket'], perMessageDeflate: false });
io.on('connection', (socket) => {
  const room = String(socket.handshake.query.room ?? '');
  void socket.join(room);
  socket.on('broadcast', (m: { room: string; payload: string }) => io.to(m.room).emit('m', m.payload));
});
http.listen(Number(process.env.PORT), '127.0.0.1', () => console.log('socket.io baseline listening'));
