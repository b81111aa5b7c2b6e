// Live frames are framed once and written straight to each TCP socket (realtime/outbox.ts): the
// bytes must be ws's own, and a real ws client must read them, in order, mixed with ws.send's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import WebSocket, { WebSocketServer } from 'ws';
import * as wsModule from 'ws';
import { push, textFrame, type Outgoing } from '../../src/realtime/outbox.ts';

// ws's own framing: exported by ws, not declared in its types.
type Framer = { frame(data: Buffer, o: object): Buffer[] };
const Sender = (wsModule as unknown as { Sender: Framer }).Sender;

test('a text frame is the bytes ws frames for a server, at every length class', () => {
  for (const n of [0, 1, 125, 126, 127, 65_535, 65_536, 70_000]) {
    const payload = Buffer.alloc(n, 'x');
    const theirs = Buffer.concat(Sender.frame(payload, { fin: true, opcode: 1, mask: false, readOnly: true, rsv1: false }));
    assert.ok(textFrame(payload).equals(theirs), `length ${n}`);
  }
});

test('frames pushed to a socket reach a ws client whole and in order, between ws.send frames', async () => {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false });
  await once(wss, 'listening');
  const accepted = once(wss, 'connection');
  const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`, { perMessageDeflate: false });
  const got: string[] = [];
  client.on('message', (d) => got.push(d.toString()));
  const [ws] = (await accepted) as [WebSocket];
  await once(client, 'open');
  const o: Outgoing = { ws, socket: (ws as unknown as { _socket: Duplex })._socket, queue: null, queued: 0, flushing: false };
  const sent = ['a', 'é'.repeat(200), 'b'.repeat(70_000), '{"cmd":3}'];
  const shared = Buffer.from(sent[3]!);
  for (const text of sent.slice(0, 3)) assert.ok(push(o, Buffer.from(text), { low: 1 << 20, max: 1 << 22 }));
  ws.send('via ws');
  // One Buffer to two sockets' worth of pushes: framed once, read twice.
  assert.ok(push(o, shared, { low: 1 << 20, max: 1 << 22 }));
  assert.ok(push(o, shared, { low: 1 << 20, max: 1 << 22 }));
  try {
    const deadline = Date.now() + 5000;
    while (got.length < 6 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(got, [...sent.slice(0, 3), 'via ws', sent[3], sent[3]]);
  } finally {
    client.terminate();
    ws.terminate();
    await new Promise<void>((r) => wss.close(() => r()));
  }
});
