// The baseline: a bare Fastify 5 route answering a JSON body of about the size of room info.
import Fastify from 'fastify';

const member = (i: number) => ({
  userId: `user${i}xxxxxxxxxxxxxxxxx`,
  userName: `Member ${i}`,
  role: i === 0 ? 1 : 2,
  enableChat: 1,
  enableVideo: 1,
  enableAudio: 0,
  grantBoard: 0,
  grantScreen: 0,
  uid: 2 * i + 1,
  screenId: 2 * i + 2,
});
const body = {
  code: 0,
  msg: 'Success',
  data: {
    room: { roomId: 'r'.repeat(22), roomUuid: 'room-1', roomName: 'Room 1', channelName: 'r'.repeat(22), password: '', muteAllChat: 0, muteAllAudio: 0, state: 1, startTime: Date.now(), onlineUsers: 10, hosts: [member(0)], shareBoard: 0, createBoardUserId: '', shareBoardUsers: [], shareScreen: 0, shareScreenUsers: [], boardId: 'b'.repeat(22), boardToken: 't'.repeat(200) },
    user: { ...member(3), userUuid: 'uuid-3', rtcToken: '007'.padEnd(180, 'x'), rtmToken: '007'.padEnd(140, 'x'), screenToken: '007'.padEnd(180, 'x'), state: 1 },
  },
};
const app = Fastify({ logger: false });
app.get('/room', async () => body);
await app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' });
console.log(`bare fastify listening (${JSON.stringify(body).length} bytes)`);
