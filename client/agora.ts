// A small typed client for Convene's Agora Meeting v1 API, used by tests, benchmarks and scripts.
// It speaks the client form of the paths (`/apps/{appId}/v1/room/...`) unless told otherwise.

export interface Envelope<T> {
  code: number;
  msg: string;
  data: T;
}

export interface AgoraMember {
  userId: string;
  userName: string;
  role: 1 | 2;
  enableChat: 0 | 1;
  enableVideo: 0 | 1;
  enableAudio: 0 | 1;
  grantBoard: 0 | 1;
  grantScreen: 0 | 1;
  uid: number;
  screenId: number;
  avatar?: string;
  state?: 0 | 1;
  /** Convene: the member's metadata, where set (member pages, snapshots, one's own; not channel messages). */
  metadata?: string;
}

export interface AgoraRoom {
  roomId: string;
  roomUuid: string;
  roomName: string;
  channelName: string;
  password: string;
  muteAllChat: number;
  muteAllAudio: number;
  state: number;
  startTime: number;
  onlineUsers: number;
  hosts: AgoraMember[];
  shareBoard: 0 | 1;
  createBoardUserId: string;
  shareBoardUsers: AgoraMember[];
  shareScreen: 0 | 1;
  shareScreenUsers: AgoraMember[];
  /** Convene: 1 while the room is locked (no new entries). */
  locked: 0 | 1;
  /** Convene: the room's metadata, where set. */
  metadata?: string;
  /** Convene: 1 when members may set their own metadata. */
  selfMetadata?: 1;
  boardId: string;
  boardToken: string;
}

export interface AgoraMe extends AgoraMember {
  userUuid: string;
  rtcToken: string | null;
  rtmToken: string | null;
  screenToken: string | null;
  state: 0 | 1;
}

export interface EntryRequest {
  roomName: string;
  roomUuid: string;
  userName: string;
  userUuid: string;
  password?: string;
  enableVideo?: number;
  enableAudio?: number;
  avatar?: string;
}

export interface Credentials {
  appId: string;
  customerId: string;
  customerSecret: string;
}

export interface ClientOptions extends Credentials {
  baseUrl: string;
  /** Path form: 'client' (/apps/{appId}/v1/room), 'seed' (/conf/v1/apps/{appId}/room) or 'scenario'. */
  form?: 'client' | 'seed' | 'scenario';
}

/** Convene: E1's code for an entry that knocked at the lobby (its data: roomId, userId, userToken). */
export const LOBBY_WAITING = 1012;

/** A member waiting in the lobby, as moderators see it. */
export interface LobbyKnock {
  userId: string;
  userName: string;
  avatar: string;
  /** When it knocked, epoch ms. */
  at: number;
}

/** GET /{roomId}/lobby: `list` and `exempt` for moderators only. */
export interface LobbyState {
  on: 0 | 1;
  state: 'in' | 'waiting' | 'denied' | 'out';
  reason: string;
  at: number;
  exemptCreator: 0 | 1;
  exempt: string[];
  list: LobbyKnock[];
}

export class AgoraApiError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(`${code}: ${message}`);
    this.name = 'AgoraApiError';
  }
}

export function roomPrefix(form: ClientOptions['form'], appId: string): string {
  switch (form ?? 'client') {
    case 'seed':
      return `/conf/v1/apps/${appId}/room`;
    case 'scenario':
      return `/scenario/meeting/apps/${appId}/v1/room`;
    default:
      return `/apps/${appId}/v1/room`;
  }
}

/** Base64 of the UTF-8 bytes of `text`, in browsers as in Node (no Buffer). */
function base64(text: string): string {
  let binary = '';
  for (const byte of new TextEncoder().encode(text)) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/** The low-level call: returns the whole envelope, whatever its code. */
export async function callAgora<T = unknown>(
  opts: ClientOptions,
  method: 'GET' | 'POST' | 'DELETE',
  path: string,
  body?: unknown,
  token?: string,
): Promise<Envelope<T>> {
  const headers: Record<string, string> = {
    authorization: `Basic ${base64(`${opts.customerId}:${opts.customerSecret}`)}`,
    'content-type': 'application/json',
  };
  if (token) headers.token = token;
  const res = await fetch(opts.baseUrl + roomPrefix(opts.form, opts.appId) + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return (await res.json()) as Envelope<T>;
}

/** A member's view of the API: enter once, then act with the userToken. */
export class MeetingClient {
  roomId = '';
  userId = '';
  userToken = '';

  constructor(readonly opts: ClientOptions) {}

  private async call<T>(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<T> {
    const env = await callAgora<T>(this.opts, method, path, body, this.userToken || undefined);
    if (env.code !== 0) throw new AgoraApiError(env.code, env.msg);
    return env.data;
  }

  /** Convene's lobby: this entry knocked and waits to be admitted (its socket is told; `waiting` is not updated by itself). */
  waiting = false;

  /**
   * Enter. With `wait`, a knock at the room's lobby (code 1012) is no error: `waiting` is then true,
   * and the userToken opens the member's lobby socket (RealtimeClient), which goes on as a member's
   * once admitted. Without it, 1012 is thrown as any other code (a client that cannot wait).
   */
  async enter(req: EntryRequest, opts: { wait?: boolean } = {}): Promise<{ roomId: string; userToken: string; waiting?: boolean }> {
    const env = await callAgora<{ roomId: string; userToken: string; userId?: string }>(this.opts, 'POST', '/entry', req);
    if (env.code === LOBBY_WAITING && env.data && opts.wait) {
      Object.assign(this, { roomId: env.data.roomId, userToken: env.data.userToken, userId: env.data.userId ?? '', waiting: true });
      return { roomId: env.data.roomId, userToken: env.data.userToken, waiting: true };
    }
    if (env.code !== 0) throw new AgoraApiError(env.code, env.msg);
    const data = env.data;
    this.roomId = data.roomId;
    this.userToken = data.userToken;
    this.waiting = false;
    const info = await this.info();
    this.userId = info.user.userId;
    return data;
  }

  info(): Promise<{ room: AgoraRoom; user: AgoraMe }> {
    return this.call('GET', `/${this.roomId}`);
  }

  changeRoom(body: { muteAllChat?: number; muteAllAudio?: number; state?: number; shareBoard?: number; locked?: number }): Promise<true> {
    return this.call('POST', `/${this.roomId}`, body);
  }

  page(query: { role?: number; nextId?: string; count?: number } = {}) {
    const q = new URLSearchParams(Object.entries(query).filter(([, v]) => v !== undefined).map(([k, v]) => [k, String(v)]));
    return this.call<{ count: number; total: number; nextId: string; list: AgoraMember[] }>('GET', `/${this.roomId}/user/page?${q}`);
  }

  /**
   * Every member from `nextId` on (all when absent), paged from the member list: in a room of more
   * than 100 the realtime snapshot holds the first page only (its `membersPage.nextId` goes on from it).
   */
  async members(nextId = ''): Promise<AgoraMember[]> {
    const all: AgoraMember[] = [];
    for (;;) {
      const page = await this.page({ nextId });
      if (page.list.length === 0) return all;
      all.push(...page.list);
      nextId = page.nextId;
    }
  }

  changeUser(userId: string, body: { enableChat?: number; enableVideo?: number; enableAudio?: number; grantBoard?: number }): Promise<true> {
    return this.call('POST', `/${this.roomId}/user/${userId}`, body);
  }

  invite(userId: string, type: number, action: number): Promise<true> {
    return this.call('POST', `/${this.roomId}/user/${userId}/host/invite`, { type, action });
  }

  apply(userId: string, type: number, action: number): Promise<true> {
    return this.call('POST', `/${this.roomId}/user/${userId}/audience/apply`, { type, action });
  }

  screen(userId: string, state: number): Promise<true> {
    return this.call('POST', `/${this.roomId}/user/${userId}/screen`, { state });
  }

  board(userId: string, state: number): Promise<true> {
    return this.call('POST', `/${this.roomId}/user/${userId}/board`, { state });
  }

  transferHost(userId: string): Promise<true> {
    return this.call('POST', `/${this.roomId}/user/${userId}/host`);
  }

  exit(userId = this.userId): Promise<true> {
    return this.call('POST', `/${this.roomId}/user/${userId}/exit`);
  }

  /** Host: remove a member; Convene: with `banSeconds`, it may not enter again for that long. */
  kick(userId: string, banSeconds?: number): Promise<true> {
    return this.call('POST', `/${this.roomId}/user/${userId}/exit`, banSeconds === undefined ? undefined : { ban: banSeconds });
  }

  /** `roomId`: a breakout of this meeting the member is in (the same token works there). */
  chat(message: string, roomId = this.roomId): Promise<true> {
    return this.call('POST', `/${roomId}/chat`, { message, type: 1 });
  }

  boardToken(): Promise<{ boardId: string; boardToken: string }> {
    return this.call('GET', `/${this.roomId}/board`);
  }

  refreshTokens(): Promise<{ rtcToken: string | null; rtmToken: string | null; screenToken: string | null }> {
    return this.call('POST', `/${this.roomId}/token/refresh`);
  }

  /** Convene's hand queue (docs/agora-api.md): all of it for a host or a public queue, else one's own hand. */
  hands(): Promise<{ public: number; list: { userId: string; userName: string; at: number }[] }> {
    return this.call('GET', `/${this.roomId}/hands`);
  }

  raiseHand(): Promise<true> {
    return this.call('POST', `/${this.roomId}/hands`);
  }

  /** One's own hand, or (host) another member's. */
  lowerHand(userId = this.userId): Promise<true> {
    return this.call('DELETE', `/${this.roomId}/hands/${userId}`);
  }

  lowerAllHands(): Promise<true> {
    return this.call('DELETE', `/${this.roomId}/hands`);
  }

  /** Host: the first hand is lowered and its member invited to speak. */
  answerNextHand(): Promise<{ userId: string; userName: string }> {
    return this.call('POST', `/${this.roomId}/hands/next`);
  }

  setHandsPublic(on: boolean): Promise<true> {
    return this.call('POST', `/${this.roomId}/hands/visibility`, { public: on ? 1 : 0 });
  }

  /** Convene (host): the room's metadata ("" clears it) and whether members may set their own. */
  setRoomMetadata(change: { metadata?: string; selfMetadata?: boolean }): Promise<true> {
    const body: { metadata?: string; selfMetadata?: number } = { metadata: change.metadata };
    if (change.selfMetadata !== undefined) body.selfMetadata = change.selfMetadata ? 1 : 0;
    return this.call('POST', `/${this.roomId}/metadata`, body);
  }

  /** Convene: a member's metadata (host; one's own where the room allows). */
  setMemberMetadata(metadata: string, userId = this.userId): Promise<true> {
    return this.call('POST', `/${this.roomId}/user/${userId}/metadata`, { metadata });
  }

  /** Convene's lobby (docs/agora-api.md §6.17): a moderator sees who waits, a waiting member its own state. */
  lobby(): Promise<LobbyState> {
    return this.call('GET', `/${this.roomId}/lobby`);
  }

  /** Host: turn the lobby on or off (off admits those waiting), and who skips it. */
  setLobby(body: { on?: 0 | 1; exemptCreator?: 0 | 1; exempt?: string[] }): Promise<true> {
    return this.call('POST', `/${this.roomId}/lobby`, body);
  }

  /** Host: admit those named, or (none named) everyone waiting as far as the room takes them. */
  admit(userIds?: string[]): Promise<{ admitted: string[]; waiting: number }> {
    return this.call('POST', `/${this.roomId}/lobby/admit`, userIds ? { userIds } : {});
  }

  deny(userId: string, reason = ''): Promise<true> {
    return this.call('POST', `/${this.roomId}/lobby/deny`, { userId, reason });
  }

  /** Host: send a member back to the lobby. */
  sendToLobby(userId: string): Promise<true> {
    return this.call('POST', `/${this.roomId}/lobby/back`, { userId });
  }

  /** A waiting member leaves the lobby. */
  leaveLobby(): Promise<true> {
    return this.call('DELETE', `/${this.roomId}/lobby`);
  }

  simple(): Promise<{ roomId: string; roomUuid: string; roomName: string; channelName: string; password: string }> {
    return this.call('GET', `/${this.roomId}/simple`);
  }

  /** The main meeting's round of breakout rooms (Convene: docs/agora-api.md 6.17). */
  breakouts(): Promise<BreakoutRound> {
    return this.call('GET', `/${this.roomId}/breakouts`);
  }

  /** Open breakout rooms (host). `assign` (manual): userId → index in `rooms`. */
  openBreakouts(o: { rooms: string[]; assignment: 'manual' | 'random' | 'choose'; assign?: Record<string, number>; durationSeconds?: number }): Promise<BreakoutRound> {
    return this.call('POST', `/${this.roomId}/breakouts`, o);
  }

  /** Move a member (host; oneself when members choose) to a breakout, or to the main meeting (its roomId, or ''). */
  moveToBreakout(userId: string, roomId: string): Promise<true> {
    return this.call('POST', `/${this.roomId}/breakouts/move`, { userId, roomId });
  }

  extendBreakouts(seconds: number): Promise<BreakoutRound> {
    return this.call('POST', `/${this.roomId}/breakouts/extend`, { seconds });
  }

  messageBreakouts(text: string): Promise<true> {
    return this.call('POST', `/${this.roomId}/breakouts/message`, { text });
  }

  closeBreakouts(): Promise<true> {
    return this.call('DELETE', `/${this.roomId}/breakouts`);
  }
}

/** The main meeting's round of breakout rooms: `open` 0 and nothing else when there is none. */
export interface BreakoutRound {
  open: number;
  round?: string;
  assignment?: 'manual' | 'random' | 'choose';
  /** Epoch ms; 0: until a host closes them. */
  endsAt?: number;
  closing?: number;
  rooms?: { roomId: string; name: string; members: string[] }[];
}
