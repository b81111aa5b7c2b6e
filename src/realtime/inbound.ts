// What a media socket (`media=1`) sends: signals for the page's WebRTC media (media/relay.ts) and,
// when it also carries the board (`board=1`), board ops (board/socket.ts). A frame is parsed once
// to see which; a board op is then handed on as it came (the board reads it again: at most its
// rate of ~20 small frames a second). Anything else is answered with a signalError and counted
// against the member's signal rate, so that junk cannot be sent faster than signals.
import type { RawData } from 'ws';
import type { BoardSeat, Whiteboard } from '../board/socket.ts';
import type { MediaRelay, MediaSeat } from '../media/relay.ts';

export function receiveOnMediaSocket(
  relay: MediaRelay,
  seat: MediaSeat,
  board: { whiteboard: Whiteboard; seat: BoardSeat } | null,
  data: RawData,
  isBinary: boolean,
): void {
  if (seat.gone) return;
  const buf = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
  const refuse = (msg: string) => relay.refuseJunk(seat, msg);
  if (isBinary) return refuse('binary frames are not understood: send JSON text frames');
  let m: unknown;
  try {
    m = JSON.parse(buf.toString('utf8'));
  } catch {
    return refuse('not JSON: send {"type":"signal","to":…,"signal":{…}}');
  }
  const type = typeof m === 'object' && m !== null && !Array.isArray(m) ? (m as Record<string, unknown>).type : undefined;
  if (type === 'signal') return relay.receive(seat, m as Record<string, unknown>, buf.length);
  if (type === 'board' && board) return board.whiteboard.receive(board.seat, buf, false);
  refuse(board ? 'unknown message type: this socket takes {"type":"signal",…} and {"type":"board",…}' : 'unknown message type: this socket takes {"type":"signal",…}');
}
