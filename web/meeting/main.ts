// The meeting page: join a meeting of the app /config.json names, then see and run it live over the
// realtime socket (client/realtime.ts keeps the meeting state and resumes after a disconnect).
import { AgoraApiError, MeetingClient, callAgora, type AgoraMember, type ClientOptions, type Credentials } from '../../client/agora.ts';
import { RealtimeClient, type PeerMessage, type RealtimeMessage, type ServerMessage } from '../../client/realtime.ts';
import { $, h, replaceKeepingFocus } from '../lib/dom.ts';
import { lang, languagePicker, t, type Key } from '../lib/i18n.ts';
import { Board, type BoardOp } from './board.ts';
import { Mesh } from './mesh.ts';
import { Tiles } from './tiles.ts';
import { handsCard } from './hands.ts';
import { lobbyCard, waitInLobby } from './lobby.ts';
import { breakoutBanner, breakoutsCard, forgetForm, tickCountdowns } from './breakouts.ts';
import type { BreakoutRound } from '../../client/agora.ts';

interface Request {
  kind: 'apply' | 'invite';
  from: { userId: string; userName: string };
  type: number;
}

type Ending = 'kicked' | 'ended' | 'session' | 'left' | 'gone';

const app = $('#app');
let creds: Credentials | null = null;
let errorTexts: Record<string, Record<string, string>> = {};
let api: MeetingClient | null = null;
let rt: RealtimeClient | null = null;
let me = '';
/** The meeting entered; `api.roomId` is the room the member is in (it, or one of its breakouts). */
let mainRoomId = '';
/** The hosts' messages to every breakout room this round (newest first). */
let announcements: (() => string)[] = [];
let requests: Request[] = [];
/** A notice is said in the language of the moment it is shown, for NOTICE_MS, once at a time. */
interface Notice {
  text: () => string;
  until: number;
}
let notices: Notice[] = [];
const NOTICE_MS = 8000;
const MAX_NOTICES = 4;
/** The host control waiting for its confirmation ('end', or 'kick-<userId>'), and until when. */
let armed: { what: string; until: number } | null = null;
const ARMED_MS = 5000;
let ending: Ending | null = null;
let mesh: Mesh | null = null;
/** Whose hands were up as of the last message (state has already applied the current one). */
let lastHands = new Set<string>();
const tiles = new Tiles();
let lastMuteAll = 0;
let lastMuteChat = 0;
let connectedShown = true;
const board = new Board((op) => sendBoard(op));
const chatInput = h('input', { id: 'chat-input', type: 'text', maxlength: 4000, autocomplete: 'off', 'data-key': 'chat-input' });

// ---- Start

async function start(): Promise<void> {
  const [config, languages] = await Promise.all([
    fetch('/config.json').then((r) => r.json() as Promise<{ app: Credentials | null }>),
    fetch('/v1/multi/language').then((r) => r.json() as Promise<{ data: Record<string, Record<string, string>> }>),
  ]).catch(() => [{ app: null }, { data: {} }] as const);
  creds = config.app;
  errorTexts = languages.data ?? {};
  // A reload (F5) goes back into the meeting this tab was in, as the same member.
  if (await resumeSession()) return;
  renderJoin();
  await prefillFromLink();
}

// ---- This tab's meeting, across reloads

interface SavedSession {
  room: string;
  roomId: string;
  userId: string;
  userToken: string;
  /** The app's credentials when the page asked for them (none in /config.json). */
  creds: Credentials | null;
}

const SESSION_KEY = 'convene.session';

function saveSession(client: MeetingClient, room: string, typedCreds: boolean): void {
  const saved: SavedSession = { room, roomId: client.roomId, userId: client.userId, userToken: client.userToken, creds: typedCreds ? creds : null };
  sessionStorage.setItem(SESSION_KEY, JSON.stringify(saved));
}

/** Back into the saved meeting if its session still holds (room info answers); else the join form. */
async function resumeSession(): Promise<boolean> {
  let saved: SavedSession | null = null;
  try {
    saved = JSON.parse(sessionStorage.getItem(SESSION_KEY) ?? 'null') as SavedSession | null;
  } catch {
    // Not ours, or damaged: the join form.
  }
  if (!saved?.userToken) return false;
  // Only the meeting the address names: a link to another room is a new join.
  const asked = new URLSearchParams(location.search).get('room');
  if (asked !== null && asked !== saved.room) return false;
  if (saved.creds) creds = saved.creds;
  if (!creds) return false;
  const client = new MeetingClient(options());
  client.roomId = saved.roomId;
  client.userId = saved.userId;
  client.userToken = saved.userToken;
  try {
    await client.info();
  } catch {
    // Ended, removed, or replaced meanwhile: join again from the form.
    sessionStorage.removeItem(SESSION_KEY);
    if (saved.creds) creds = null;
    return false;
  }
  await enterMeeting(client, saved.room);
  return true;
}

function options(): ClientOptions {
  return { baseUrl: location.origin, ...creds! };
}

/** `?invite=<roomId>` (from the invite button) is looked up with E15; `?room=<roomUuid>` is used as it is. */
async function prefillFromLink(): Promise<void> {
  const q = new URLSearchParams(location.search);
  const roomInput = document.getElementById('join-room') as HTMLInputElement | null;
  if (!roomInput) return;
  if (q.get('room')) roomInput.value = q.get('room')!;
  const invite = q.get('invite');
  if (invite && creds) {
    const env = await callAgora<{ roomUuid: string; roomName: string; password: string }>(options(), 'GET', `/${encodeURIComponent(invite)}/simple`);
    if (env.code === 0) {
      roomInput.value = env.data.roomUuid;
      (document.getElementById('join-password') as HTMLInputElement).value = env.data.password;
      roomInput.dataset.roomName = env.data.roomName;
    } else showAlert(errorText(env.code, env.msg));
  }
}

// ---- Texts

function errorText(code: number, msg: string): string {
  const table = errorTexts[lang === 'zh' ? 'zh-cn' : 'en-us'] ?? {};
  const known = table[String(code)];
  // The server's own message says what exactly is wrong; the table's text is the user's words.
  return known && code >= 1000 ? known : known ? `${known} (${msg})` : msg;
}

function failure(err: unknown): string {
  if (err instanceof AgoraApiError) return errorText(err.code, err.message.replace(/^\d+: /, ''));
  return t('failed', { msg: String((err as Error)?.message ?? err) });
}

function notice(text: string | (() => string)): void {
  const say = typeof text === 'string' ? () => text : text;
  const now = Date.now();
  // The same words again move to the top rather than pile up.
  const words = say();
  notices = [{ text: say, until: now + NOTICE_MS }, ...notices.filter((n) => n.until > now && n.text() !== words)].slice(0, MAX_NOTICES);
  renderDynamic();
  setTimeout(renderDynamic, NOTICE_MS + 50);
}

function showAlert(text: string): void {
  const box = document.getElementById('alert');
  if (box) box.textContent = text;
}

const userUuid = (() => {
  // One member per tab: a reload enters as the same member, another tab as another.
  let id = sessionStorage.getItem('convene.userUuid');
  if (!id) {
    id = `web-${crypto.getRandomValues(new Uint32Array(2)).join('')}`;
    sessionStorage.setItem('convene.userUuid', id);
  }
  return id;
})();

// ---- Join

function header(): HTMLElement {
  return h(
    'header',
    { class: 'top' },
    h('span', { class: 'brand' }, 'Convene'),
    h('span', { id: 'conn', role: 'status', class: 'conn' }),
    languagePicker(() => {
      forgetForm();
      if (api) renderMeeting();
      else rerenderJoin();
    }),
  );
}

function field(id: string, key: Key, attrs: Record<string, string | number | boolean> = {}): HTMLElement {
  return h('p', { class: 'field' }, h('label', { for: id }, t(key)), h('input', { id, name: id, ...attrs }));
}

function rerenderJoin(): void {
  const keep = ['join-room', 'join-name', 'join-password'].map((id) => (document.getElementById(id) as HTMLInputElement | null)?.value ?? '');
  renderJoin();
  ['join-room', 'join-name', 'join-password'].forEach((id, i) => ((document.getElementById(id) as HTMLInputElement).value = keep[i]!));
}

function renderJoin(message = ''): void {
  const form = h(
    'form',
    { class: 'card join', 'aria-labelledby': 'join-title', onsubmit: (e: Event) => (e.preventDefault(), void join()) },
    h('h1', { id: 'join-title' }, t('joinTitle')),
    field('join-room', 'room', { required: true, maxlength: 128, autocomplete: 'off' }),
    field('join-name', 'yourName', { required: true, maxlength: 64, autocomplete: 'nickname', value: localStorage.getItem('convene.name') ?? '' }),
    field('join-password', 'password', { type: 'password', maxlength: 64, autocomplete: 'off' }),
    creds
      ? null
      : h(
          'fieldset',
          {},
          h('legend', {}, t('appCredsHint')),
          field('join-app', 'appId', { required: true }),
          field('join-cid', 'customerId', { required: true }),
          field('join-secret', 'customerSecret', { required: true, type: 'password' }),
        ),
    h('p', { id: 'alert', role: 'alert', class: 'alert' }, message),
    h('button', { type: 'submit', class: 'primary' }, t('join')),
  );
  app.replaceChildren(header(), h('main', {}, form));
}

async function join(): Promise<void> {
  const val = (id: string) => (document.getElementById(id) as HTMLInputElement | null)?.value.trim() ?? '';
  if (!creds) creds = { appId: val('join-app'), customerId: val('join-cid'), customerSecret: val('join-secret') };
  const roomInput = document.getElementById('join-room') as HTMLInputElement;
  const room = val('join-room');
  const name = val('join-name');
  localStorage.setItem('convene.name', name);
  showAlert(t('joining'));
  const client = new MeetingClient(options());
  try {
    // A room with a waiting room answers a knock: the lobby screen waits for the host's answer.
    await client.enter({
      roomUuid: room,
      roomName: roomInput.dataset.roomName || room,
      userName: name,
      userUuid,
      password: val('join-password') || undefined,
      enableAudio: 1,
      enableVideo: 0,
    }, { wait: true });
  } catch (err) {
    if (!(document.getElementById('join-app') === null)) creds = null;
    showAlert(failure(err));
    return;
  }
  const typedCreds = document.getElementById('join-app') !== null;
  if (client.waiting) {
    const lobby = h('main', {});
    app.replaceChildren(header(), lobby);
    const outcome = await waitInLobby(lobby, client, button);
    if (!outcome.admitted) {
      renderJoin(outcome.reason === null ? '' : t('deniedText', { reason: outcome.reason || t('denyReason') }));
      // The form as it was: the room and name stay, to knock again.
      (document.getElementById('join-room') as HTMLInputElement).value = room;
      return;
    }
    // Admitted: its token is a member's now; the meeting opens its own sockets (board, media).
    client.waiting = false;
  }
  saveSession(client, room, typedCreds);
  await enterMeeting(client, room);
}

/** The meeting view for an entered (or resumed) member, and its socket. */
async function enterMeeting(client: MeetingClient, room: string): Promise<void> {
  api = client;
  me = client.userId;
  mainRoomId = client.roomId;
  requests = [];
  notices = [];
  ending = null;
  history.replaceState(null, '', `/?room=${encodeURIComponent(room)}`);
  await openRoom(client);
}

/**
 * The socket of the room the member is in (its meeting, or a breakout of it: `client.roomId`), with
 * that room's board and mesh, and the meeting view drawn for it.
 */
async function openRoom(client: MeetingClient): Promise<void> {
  // The board on the socket is authorized by this member's boardToken.
  let boardToken = '';
  try {
    boardToken = (await client.boardToken()).boardToken;
  } catch {
    // No board here (or not now): the meeting works without it.
  }
  // A Netless board (CONVENE_BOARD_PROVIDER=netless) is drawn on with Netless' SDK, not on this socket.
  if (boardToken.startsWith('NETLESSROOM_')) boardToken = '';
  const socket = new RealtimeClient({ baseUrl: location.origin, token: client.userToken, board: boardToken !== '', boardToken, media: true });
  // In a breakout: that room (the main meeting's token works there).
  if (client.roomId !== mainRoomId) socket.roomId = client.roomId;
  rt = socket;
  mesh?.close();
  const peers = (mesh = new Mesh((to, signal) => socket.send({ type: 'signal', to, signal }), () => renderTiles()));
  socket.onMedia((m) => {
    if (m.type === 'media') peers.configure(m.data.meshMax, m.data.iceServers);
    else if (m.type === 'signal') peers.signal(m.data.from, m.data.signal);
    if (m.type !== 'signalError') syncMesh();
  });
  socket.on((m) => onMessage(m));
  socket.onBoard((m) => {
    if (m.type === 'boardSnapshot') board.snapshot(m.data.strokes, m.data.page);
    else if (m.type === 'board') board.apply(m);
    else {
      board.refused(m.data.ref);
      notice(() => t('boardRefused', { msg: m.data.msg }));
    }
    renderDynamic();
  });
  socket.onClose((code) => onClose(code));
  renderMeeting();
  try {
    await socket.connect();
  } catch {
    // It retries by itself; the indicator says so.
  }
}

// ---- Realtime

function onMessage(m: RealtimeMessage): void {
  const state = rt!.state;
  const handsBefore = lastHands;
  lastHands = new Set(state.hands.list.map((x) => x.userId));
  if (m.type === 'snapshot') {
    lastMuteAll = state.room?.muteAllAudio ?? 0;
    lastMuteChat = state.room?.muteAllChat ?? 0;
  } else if (m.type === 'channel') {
    const d = m.data;
    switch (m.cmd) {
      case 3: {
        if (d.state === 0) return inBreakout() ? void relocate() : finish('ended');
        const host = mine()?.role === 1;
        if (d.muteAllAudio !== lastMuteAll && !host) notice(() => t(d.muteAllAudio === 0 ? 'unmutedAll' : d.muteAllAudio === 1 ? 'mutedAllAllow' : 'mutedAllForbid'));
        if (d.muteAllChat !== lastMuteChat && !host) notice(() => t(d.muteAllChat === 0 ? 'chatOnNotice' : 'chatOffNotice'));
        lastMuteAll = d.muteAllAudio;
        lastMuteChat = d.muteAllChat;
        break;
      }
      case 7: {
        const host = (d as AgoraMember[]).find((x) => x.role === 1 && x.state === 1);
        if (host) notice(() => (host.userId === me ? t('youAreHost') : t('newHost', { name: host.userName })));
        requests = [];
        break;
      }
      case 8:
        if (d.userId === me) return finish('kicked');
        break;
      case 2:
        // Requests from members who left are void.
        requests = requests.filter((r) => state.members.has(r.from.userId));
        break;
      case 123: {
        // A host's word to every room: said once as a notice, and kept on show while the round lasts.
        const said = () => t('breakoutMessage', { name: String(d.userName || t('theServer')), text: String(d.text) });
        notice(said);
        announcements = [said, ...announcements].slice(0, 3);
        break;
      }
      case 110:
        for (const k of (d.knocked ?? []) as { userName: string }[]) notice(() => t('knockedNotice', { name: k.userName }));
        break;
      case 101: {
        // An application to speak whose hand went down (answered, lowered) is no longer a request.
        requests = requests.filter((r) => r.kind !== 'apply' || r.type !== 1 || lastHands.has(r.from.userId) || !handsBefore.has(r.from.userId));
        break;
      }
    }
  } else if (m.type === 'peer') onPeer(m);
  else if (m.type === 'server') onServer(m);
  syncMesh();
  renderDynamic();
}

/** The media follow the meeting: who is in it, and what the room lets each member send. */
function syncMesh(): void {
  const state = rt?.state;
  if (!mesh || !state) return;
  mesh.sync({ me, members: state.members, room: state.room ?? null, online: state.onlineUsers || state.members.size });
}

function onPeer(m: PeerMessage): void {
  const d = m.data as { userId: string; userName: string; type: number; action?: number; state?: number };
  const from = { userId: d.userId, userName: d.userName };
  if (m.cmd === 2) {
    if (d.action === 1) requests = [...requests.filter((r) => !(r.kind === 'apply' && r.from.userId === d.userId && r.type === d.type)), { kind: 'apply', from, type: d.type }];
    else notice(() => t('inviteDeclined', { name: d.userName }));
  } else if (m.cmd === 1) {
    if (d.action === 1) requests = [...requests.filter((r) => !(r.kind === 'invite' && r.type === d.type)), { kind: 'invite', from, type: d.type }];
    else notice(() => t('requestRejected', { name: d.userName }));
  } else if (m.cmd === 3) {
    notice(() => t('noticeChanged', { name: d.userName, what: t(`mod${d.type}` as Key), state: t(d.state ? 'on' : 'off') }));
  }
}

function onServer(m: ServerMessage): void {
  notice(() => t('serverMessage', { text: m.data.text }));
}

/**
 * The member's place changed (4412: a breakout round moved it, or it came back): the socket carries
 * this room's board and mesh, so the page opens the room the member is in now.
 */
let relocating = false;
async function relocate(): Promise<void> {
  const c = api;
  if (!c || ending || relocating) return;
  relocating = true;
  try {
    await rt?.close();
    let where = mainRoomId;
    try {
      const round = await c.breakouts();
      if (round.open === 1 && !round.closing) where = round.rooms?.find((r) => r.members.includes(me))?.roomId ?? mainRoomId;
    } catch {
      // The round is the main meeting's: without it, the main meeting (the server places it anyway).
    }
    c.roomId = where;
    await openRoom(c);
  } finally {
    relocating = false;
  }
}

/** In a breakout: its end is the way back to the main meeting, not the meeting's end. */
const inBreakout = () => api !== null && api.roomId !== mainRoomId;

function onClose(code: number): void {
  if (ending) return;
  if (code === 4412 || (code === 4403 && inBreakout())) return void relocate();
  if (code === 4403) finish('ended');
  else if (code === 4409) finish(rt?.state.kicked ? 'kicked' : 'gone');
  else if (code === 4401 || code === 4410) finish('session');
  else renderStatus();
}

function finish(why: Ending): void {
  if (ending) return;
  ending = why;
  sessionStorage.removeItem(SESSION_KEY);
  void rt?.close();
  mesh?.close();
  mesh = null;
  tiles.clear();
  const text = why === 'kicked' ? t('kicked') : why === 'ended' ? t('ended') : why === 'left' ? t('left') : why === 'session' ? t('sessionOver') : t('kicked');
  api = null;
  rt = null;
  renderJoin(text);
}

function sendBoard(op: BoardOp): boolean {
  return rt?.send({ type: 'board', ref: op.op === 'draw' ? op.stroke.id : undefined, ...op }) ?? false;
}

// ---- Actions

function mine(): AgoraMember | undefined {
  return rt?.state.members.get(me);
}

function hostId(): string {
  for (const m of rt?.state.members.values() ?? []) if (m.role === 1) return m.userId;
  return '';
}

/** Run a call; a refusal is shown in the alert region in the user's words. */
async function act(fn: (c: MeetingClient) => Promise<unknown>, done?: () => string): Promise<void> {
  const c = api;
  if (!c) return;
  try {
    await fn(c);
    // The meeting may be over by the time the answer comes (ending it, kicked meanwhile): its message stays.
    if (api !== c) return;
    if (done) notice(done);
    showAlert('');
  } catch (err) {
    if (api === c) showAlert(failure(err));
  }
}

/**
 * Share the screen: the browser asks which (in the click's gesture, before the API call), then the
 * room is told; with no mesh (a large room) only the room is told, as an RTC app would share.
 */
async function shareScreen(on: boolean): Promise<void> {
  if (!on) {
    mesh?.setScreen(null);
    return act((c) => c.screen(me, 0));
  }
  let track: MediaStreamTrack | null = null;
  if (mesh?.active) {
    try {
      track = (await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false })).getVideoTracks()[0] ?? null;
    } catch {
      return showAlert(t('screenNotShared'));
    }
  }
  if (track) {
    // Stopped from the browser's own "Stop sharing": the room is told too.
    track.addEventListener('ended', () => {
      if (mesh?.localTrack('screen') === track) void shareScreen(false);
    });
    mesh?.setScreen(track);
  }
  // Refused by the room (another member shares, the meeting ended…): the picked screen is let go.
  // Decided by the answer, not by the state, whose event may come after it.
  let shared = false;
  await act(async (c) => {
    await c.screen(me, 1);
    shared = true;
  });
  if (track && !shared) {
    track.stop();
    if (mesh?.localTrack('screen') === track) mesh.setScreen(null);
  }
}

// ---- Meeting view

function renderMeeting(): void {
  app.replaceChildren(
    header(),
    h(
      'main',
      { class: 'meeting' },
      h('h1', { id: 'room-title' }),
      h('p', { id: 'alert', role: 'alert', class: 'alert' }),
      tiles.element,
      h('section', { 'aria-labelledby': 'notices-title', class: 'notices' }, h('h2', { id: 'notices-title', class: 'sr-only' }, t('notices')), h('ul', { id: 'notices', role: 'log', 'aria-live': 'polite' })),
      h('div', { id: 'controls', class: 'controls', role: 'toolbar', 'aria-label': t('microphone') + ' / ' + t('camera') }),
      h('section', { id: 'host', 'aria-labelledby': 'host-title', class: 'card' }),
      h('section', { id: 'requests-box', 'aria-labelledby': 'requests-title', class: 'card' }),
      h('div', { id: 'bo-banner-box', class: 'controls' }),
      h('section', { id: 'breakouts-box', 'aria-labelledby': 'breakouts-title', class: 'card' }),
      h('section', { id: 'lobby-box', 'aria-labelledby': 'lobby-title', class: 'card' }),
      h('section', { id: 'hands-box', 'aria-labelledby': 'hands-title', class: 'card' }),
      h('div', { class: 'columns' },
        h('section', { 'aria-labelledby': 'members-title', class: 'card' }, h('h2', { id: 'members-title' }, t('members')), h('p', { id: 'count' }), h('ul', { id: 'members', class: 'members' })),
        h('section', { 'aria-labelledby': 'chat-title', class: 'card chat' },
          h('h2', { id: 'chat-title' }, t('chat')),
          h('ol', { id: 'chat-log', role: 'log', 'aria-live': 'polite', 'aria-label': t('chat') }),
          h('form', { class: 'chat-form', onsubmit: (e: Event) => (e.preventDefault(), void sendChat()) },
            h('label', { for: 'chat-input', class: 'sr-only' }, t('message')),
            chatInput,
            h('button', { type: 'submit' }, t('send')),
          ),
        ),
      ),
      h('section', { 'aria-labelledby': 'screen-title', class: 'card' }, h('h2', { id: 'screen-title' }, t('shareScreen')), h('p', { id: 'screen', role: 'status' })),
      h('section', { 'aria-labelledby': 'board-title', class: 'card' },
        h('h2', { id: 'board-title' }, t('whiteboard')),
        h('p', { id: 'board-status', role: 'status' }),
        h('div', { id: 'board-tools', class: 'controls' }),
        h('div', { class: 'board-wrap' }, board.canvas),
      ),
    ),
  );
  chatInput.setAttribute('aria-label', t('message'));
  board.paint();
  renderDynamic();
}

function button(key: string, text: string, onclick: () => void, attrs: Record<string, string | boolean> = {}): HTMLButtonElement {
  return h('button', { type: 'button', 'data-key': key, onclick, ...attrs }, text);
}

/**
 * A host action that asks first: the button arms a "Confirm" that does it, and disarms by itself
 * after ARMED_MS (or when another is armed).
 */
function confirmed(key: string, text: string, confirmText: string, run: () => void): HTMLButtonElement {
  if (armed?.what === key && armed.until > Date.now()) {
    return button(`${key}-confirm`, confirmText, () => {
      armed = null;
      run();
    }, { class: 'danger' });
  }
  return button(key, text, () => {
    armed = { what: key, until: Date.now() + ARMED_MS };
    renderDynamic();
    document.querySelector<HTMLElement>(`[data-key="${key}-confirm"]`)?.focus();
    setTimeout(renderDynamic, ARMED_MS + 50);
  }, { class: 'danger' });
}

function toggle(key: string, text: string, pressed: boolean, onclick: () => void): HTMLButtonElement {
  return button(key, text, onclick, { 'aria-pressed': pressed ? 'true' : 'false' });
}

function renderStatus(): void {
  const conn = document.getElementById('conn');
  if (!conn || !rt) return;
  const up = rt.connected;
  if (up === connectedShown && conn.textContent) return;
  connectedShown = up;
  conn.textContent = up ? t('connected') : t('reconnecting');
  conn.className = `conn ${up ? 'up' : 'down'}`;
}

function renderDynamic(): void {
  if (!rt || !document.getElementById('members')) return;
  const state = rt.state;
  const room = state.room;
  const self = mine();
  const isHost = self?.role === 1;
  renderStatus();
  $('#room-title').textContent = room?.roomName ?? '';

  const now = Date.now();
  notices = notices.filter((n) => n.until > now);
  replaceKeepingFocus($('#notices'), notices.map((n) => h('li', {}, n.text())));
  if (armed && armed.until <= now) armed = null;

  // Own controls.
  const controls: Node[] = [];
  if (self) {
    // Each says what it will do; the microphone cannot be turned on while the host forbids it.
    const speaking = self.enableAudio === 1;
    const sharing = self.grantScreen === 1 && room?.shareScreen === 1;
    const micLocked = !speaking && !isHost && room?.muteAllAudio === 2;
    controls.push(
      button('mic', t(speaking ? 'muteMic' : 'unmuteMic'), () => void act((c) => c.changeUser(me, { enableAudio: speaking ? 0 : 1 })), {
        disabled: micLocked,
        title: micLocked ? t('micLocked') : '',
      }),
      button('cam', t(self.enableVideo === 1 ? 'cameraOff' : 'cameraOn'), () => void act((c) => c.changeUser(me, { enableVideo: self.enableVideo === 1 ? 0 : 1 }))),
      button('screen', t(sharing ? 'stopSharing' : 'shareScreen'), () => void shareScreen(!sharing)),
    );
    if (micLocked) controls.push(h('span', { class: 'hint', id: 'mic-locked' }, t('micLocked')));
    // A raised hand is also an application to speak (E7), which the shipped host apps show.
    const raised = state.hands.list.some((x) => x.userId === me);
    if (!isHost && !raised) controls.push(button('hand', t('raiseHand'), () => void act((c) => c.apply(hostId(), 1, 1), () => t('handRaised'))));
    if (!isHost && raised) controls.push(button('hand', t('lowerHand'), () => void act((c) => c.lowerHand())));
    controls.push(button('invite-link', t('copyInvite'), () => void copyInvite()));
    controls.push(
      button('leave', t('leave'), () => {
        const c = api;
        finish('left');
        void c?.exit().catch(() => {});
      }),
    );
  }
  replaceKeepingFocus($('#controls'), controls);

  // Host controls.
  const hostBox = $('#host');
  hostBox.hidden = !isHost;
  if (isHost && room) {
    replaceKeepingFocus(hostBox, [
      h('h2', { id: 'host-title' }, t('hostControls')),
      h('div', { class: 'controls' },
        toggle('mute-all-1', t('muteAllAllow'), room.muteAllAudio === 1, () => void act((c) => c.changeRoom({ muteAllAudio: 1 }))),
        toggle('mute-all-2', t('muteAllForbid'), room.muteAllAudio === 2, () => void act((c) => c.changeRoom({ muteAllAudio: 2 }))),
        button('mute-all-0', t('unmuteAll'), () => void act((c) => c.changeRoom({ muteAllAudio: 0 })), { disabled: room.muteAllAudio === 0 }),
        room.muteAllChat
          ? button('chat-all', t('chatOnAll'), () => void act((c) => c.changeRoom({ muteAllChat: 0 })))
          : button('chat-all', t('chatOffAll'), () => void act((c) => c.changeRoom({ muteAllChat: 1 }))),
        confirmed('end', t('endMeeting'), t('confirmEnd'), () => void act((c) => c.changeRoom({ state: 0 }))),
      ),
    ]);
  }

  const breakoutNow = state.breakout !== null;
  const boBanner = $('#bo-banner-box');
  const round = state.breakouts as BreakoutRound | null;
  if (!breakoutNow && !round?.open) announcements = [];
  const banner = [
    ...breakoutBanner(state.breakout, button, () => void act((c) => c.moveToBreakout(me, ''))),
    ...announcements.map((said) => h('p', { class: 'hint announcement' }, said())),
  ];
  boBanner.hidden = banner.length === 0;
  replaceKeepingFocus(boBanner, banner);
  const boBox = $('#breakouts-box');
  const boShown = breakoutNow ? [] : breakoutsCard(round, state.members, me, isHost, button, act);
  boBox.hidden = boShown.length === 0;
  replaceKeepingFocus(boBox, boShown);
  const lobbyBox = $('#lobby-box');
  const lobbyShown = lobbyCard(state.lobby, isHost, button, act);
  lobbyBox.hidden = lobbyShown.length === 0;
  replaceKeepingFocus(lobbyBox, lobbyShown);
  // Requests (applications to the host, invitations to me).
  const handsBox = $('#hands-box');
  const handsShown = handsCard(state.hands, isHost, button, act);
  handsBox.hidden = handsShown.length === 0;
  replaceKeepingFocus(handsBox, handsShown);
  const reqBox = $('#requests-box');
  reqBox.hidden = requests.length === 0;
  replaceKeepingFocus(reqBox, [
    h('h2', { id: 'requests-title' }, t('requests')),
    h('ul', {}, requests.map((r) => requestItem(r))),
  ]);

  // Members.
  const members = sortedMembers();
  $('#count').textContent = t('membersCount', { n: state.onlineUsers || members.length });
  replaceKeepingFocus($('#members'), members.map((m) => memberItem(m, isHost, room?.shareBoard === 1 && (isHost || room.createBoardUserId === me))));

  // Chat.
  const log = $('#chat-log');
  const atEnd = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
  log.replaceChildren(...state.chat.slice(-200).map((c) => h('li', {}, h('b', {}, `${c.userName}: `), c.message)));
  if (atEnd) log.scrollTop = log.scrollHeight;
  const chatOff = self?.enableChat === 0 || (!isHost && room?.muteAllChat !== 0);
  chatInput.placeholder = chatOff ? t('chatMuted') : t('message');
  (chatInput as HTMLInputElement).disabled = chatOff;
  const send = document.querySelector<HTMLButtonElement>('.chat-form button[type="submit"]');
  if (send) send.disabled = chatOff;

  // Screen share.
  const sharer = members.find((m) => m.grantScreen === 1);
  const screenLine = $('#screen');
  screenLine.replaceChildren(
    room?.shareScreen === 1 && sharer ? t('screenShared', { name: sharer.userName }) : t('noScreen'),
    isHost && sharer && sharer.userId !== me ? button('stop-screen', t('stopScreenOf', { name: sharer.userName }), () => void act((c) => c.screen(sharer.userId, 0))) : '',
  );

  // Board.
  const shared = room?.shareBoard === 1;
  const controlsBoard = shared && (isHost || room?.createBoardUserId === me);
  board.canDraw = shared && self?.grantBoard === 1;
  $('#board-status').textContent = !shared ? t('notShared') : board.canDraw ? t('canDraw') : t('viewOnly');
  const tools: Node[] = [];
  if (!shared) tools.push(button('board-share', t('shareBoard'), () => void act((c) => c.board(me, 1))));
  if (controlsBoard) tools.push(button('board-stop', t('stopBoard'), () => void act((c) => c.board(room!.createBoardUserId, 0))));
  if (board.canDraw) {
    const color = h('input', { id: 'pen-color', type: 'color', value: board.color, 'data-key': 'pen-color', onchange: (e: Event) => (board.color = (e.target as HTMLInputElement).value) });
    tools.push(
      h('label', { for: 'pen-color' }, t('color')),
      color,
      toggle('eraser', t('eraser'), board.erasing, () => {
        board.erasing = !board.erasing;
        renderDynamic();
      }),
      button('board-clear', t('clearBoard'), () => board.clear()),
    );
  }
  replaceKeepingFocus($('#board-tools'), tools);
  board.label();

  renderTiles();
}

/** Hosts first, then me, then the others in the order they came. */
function sortedMembers(): AgoraMember[] {
  return [...rt!.state.members.values()].sort((a, b) => (a.role - b.role) || (a.userId === me ? -1 : b.userId === me ? 1 : 0));
}

/**
 * The tiles alone: everyone's camera or initials, who speaks, the shared screen. What the mesh
 * changes (who speaks, a connection's state) redraws nothing else: the member list's buttons stay
 * where the pointer is while people talk.
 */
function renderTiles(): void {
  if (!rt || !mesh || !document.getElementById('members')) return;
  const state = rt.state;
  tiles.render(mesh, me, sortedMembers(), state.room ?? null, state.onlineUsers || state.members.size);
}

function requestItem(r: Request): HTMLElement {
  const name = r.from.userName;
  if (r.kind === 'apply') {
    const text = r.type === 1 ? t('asksToSpeak', { name }) : t('asksFor', { name, what: t(`mod${r.type}` as Key) });
    const drop = () => (requests = requests.filter((x) => x !== r));
    return h('li', {}, text, ' ',
      button(`acc-${r.from.userId}-${r.type}`, t('acceptFrom', { name }), () => {
        drop();
        const id = r.from.userId;
        void act((c) => (r.type === 3 ? c.board(id, 1) : c.changeUser(id, r.type === 1 ? { enableAudio: 1 } : { enableVideo: 1 })));
      }),
      button(`rej-${r.from.userId}-${r.type}`, t('rejectFrom', { name }), () => {
        drop();
        void act((c) => c.invite(r.from.userId, r.type, 2));
      }),
    );
  }
  const text = r.type === 1 ? t('invitedToSpeak', { name }) : t('invitedTo', { name, what: t(`mod${r.type}` as Key) });
  const drop = () => (requests = requests.filter((x) => x !== r));
  return h('li', {}, text, ' ',
    button(`inv-acc-${r.type}`, t('acceptInvite'), () => {
      drop();
      if (r.type === 2) void act((c) => c.changeUser(me, { enableVideo: 1 }));
      else void act((c) => c.changeUser(me, { enableAudio: 1 }));
    }),
    button(`inv-rej-${r.type}`, t('declineInvite'), () => {
      drop();
      void act((c) => c.apply(r.from.userId, r.type, 2));
    }),
  );
}

function memberItem(m: AgoraMember, isHost: boolean, controlsBoard: boolean): HTMLElement {
  const self = m.userId === me;
  const states = [
    t(m.role === 1 ? 'host' : 'participant'),
    t(m.enableAudio ? 'micOn' : 'micOff'),
    t(m.enableVideo ? 'camOn' : 'camOff'),
    t(m.enableChat ? 'chatOn' : 'chatOff'),
    m.grantBoard ? t('boardOn') : '',
    m.grantScreen ? t('screenOn') : '',
  ].filter(Boolean);
  const name = m.userName;
  const actions: Node[] = [];
  if (isHost && !self) {
    if (m.enableAudio) actions.push(button(`mute-${m.userId}`, t('muteMember', { name }), () => void act((c) => c.changeUser(m.userId, { enableAudio: 0 }))));
    else actions.push(button(`invite-${m.userId}`, t('inviteMember', { name }), () => void act((c) => c.invite(m.userId, 1, 1))));
    actions.push(
      button(`host-${m.userId}`, t('makeHost', { name }), () => void act((c) => c.transferHost(m.userId))),
      confirmed(`kick-${m.userId}`, t('kickMember', { name }), t('confirmKick', { name }), () => void act((c) => c.exit(m.userId))),
    );
  }
  if (controlsBoard && !self) {
    actions.push(
      m.grantBoard
        ? button(`ungrant-${m.userId}`, t('revokeBoard', { name }), () => void act((c) => c.board(m.userId, 0)))
        : button(`grant-${m.userId}`, t('grantBoard', { name }), () => void act((c) => c.board(m.userId, 1))),
    );
  }
  return h(
    'li',
    { class: 'member', 'data-user': m.userId },
    h('span', { class: 'name' }, self ? `${name} (${t('you')})` : name),
    h('span', { class: 'states' }, states.join(' · ')),
    actions.length ? h('span', { class: 'actions' }, actions) : null,
  );
}

async function sendChat(): Promise<void> {
  const text = chatInput.value.trim();
  if (!text) return;
  await act(async (c) => {
    await c.chat(text);
    chatInput.value = '';
  });
}

async function copyInvite(): Promise<void> {
  if (!api) return;
  const link = `${location.origin}/?invite=${encodeURIComponent(api.roomId)}`;
  try {
    await navigator.clipboard.writeText(link);
    notice(() => `${t('copied')}: ${link}`);
  } catch {
    notice(() => `${t('inviteLink')}: ${link}`);
  }
}

// The reconnect indicator follows the socket (RealtimeClient resumes by itself).
setInterval(renderStatus, 250);
// The breakouts' countdowns, once a second (their text only).
setInterval(tickCountdowns, 1000);

void start();
