// The admin console: sign in with an access key pair, see the apps and their running rooms live
// (polled), open a room (members, state, recent events, its audit log), kick, message or close. Every call is a
// Qiniu-signed server-API call made from this page; the secret key never leaves it.
import { $, h, replaceKeepingFocus } from '../lib/dom.ts';
import { languagePicker, t } from '../lib/i18n.ts';
import { QiniuClient, QiniuError, webCryptoAvailable } from '../lib/qiniu.ts';

interface AppInfo {
  appId: string;
  title: string;
}
interface RoomDetail {
  roomName: string;
  title: string;
  muteAllAudio: number;
  muteAllChat: number;
  locked: boolean;
  shareBoard: boolean;
  shareScreen: boolean;
  metadata?: string;
  users: { userId: string; userName: string; role: string; audio: boolean; video: boolean; chat: boolean; board: boolean; screen: boolean; metadata?: string }[];
}
/** An entry of the meeting's audit log (docs/qiniu-api.md §4.9). */
interface AuditView {
  n: number;
  at: number;
  action: string;
  actor: { kind: 'member'; userName: string; userUuid: string; role: string } | { kind: 'server'; by: string };
  target: { userName: string; userUuid: string } | null;
  before: Record<string, unknown>;
  after: Record<string, unknown>;
}
interface EventView {
  seq: number;
  at: number;
  type: string;
  event: Record<string, unknown>;
}

const STORE_KEY = 'convene.admin';
const POLL_MS = 1000;
const app = $('#app');
let client: QiniuClient | null = null;
let apps: AppInfo[] = [];
let appId = '';
let rooms: { name: string; members: number }[] = [];
let openRoom = '';
let detail: RoomDetail | null = null;
let events: EventView[] = [];
let audit: AuditView[] = [];
/** The open room's lobby: whether it is on and who waits (userId: the userUuid). */
let lobby: { on: boolean; users: { userId: string; userName: string; knockedAt: number }[] } | null = null;
/** The open room's round of breakout rooms (users: userUuids). */
let breakouts: { open: boolean; endsAt?: number | null; closing?: boolean; rooms?: { roomId: string; name: string; users: string[] }[] } | null = null;
let confirmClose = false;
let updated = 0;
let timer: ReturnType<typeof setTimeout> | null = null;
/** The access key last typed: kept when the form is shown again after a refusal. */
let lastAk = '';

function header(): HTMLElement {
  return h(
    'header',
    { class: 'top' },
    h('span', { class: 'brand' }, t('adminTitle')),
    languagePicker(() => (client ? renderConsole() : renderSignIn())),
    client ? h('button', { type: 'button', onclick: signOut }, t('signOut')) : null,
  );
}

/** What an action did (`done`: it worked, not shown as an error) or why it failed. */
function say(text: string, done = false): void {
  const box = document.getElementById('alert');
  if (!box) return;
  box.textContent = text;
  box.classList.toggle('done', done);
}

function failure(err: unknown): string {
  return err instanceof QiniuError ? `${err.status} ${err.message}` : String((err as Error)?.message ?? err);
}

/** Signing in: a refused signature means one of the two keys is wrong — said so, in the page's language. */
function signInFailure(err: unknown): string {
  return err instanceof QiniuError && err.status === 401 ? t('wrongKeys') : failure(err);
}

// ---- Sign in

function renderSignIn(message = ''): void {
  const form = h(
    'form',
    { class: 'card join', 'aria-labelledby': 'signin-title', onsubmit: (e: Event) => (e.preventDefault(), void signIn()) },
    h('h1', { id: 'signin-title' }, t('signIn')),
    h('p', { class: 'field' }, h('label', { for: 'ak' }, t('accessKey')), h('input', { id: 'ak', required: true, autocomplete: 'username', value: lastAk })),
    h('p', { class: 'field' }, h('label', { for: 'sk' }, t('secretKey')), h('input', { id: 'sk', type: 'password', required: true, autocomplete: 'current-password' })),
    h('p', { class: 'check' }, h('input', { id: 'remember', type: 'checkbox' }), h('label', { for: 'remember' }, t('remember'))),
    h('p', { class: 'hint' }, t('secretStays')),
    h('p', { id: 'alert', role: 'alert', class: 'alert' }, webCryptoAvailable() ? message : t('noWebCrypto')),
    h('button', { type: 'submit', class: 'primary', disabled: !webCryptoAvailable() }, t('signIn')),
  );
  app.replaceChildren(header(), h('main', {}, form));
}

async function signIn(saved?: { ak: string; sk: string }): Promise<void> {
  const ak = saved?.ak ?? ($('#ak') as HTMLInputElement).value.trim();
  const sk = saved?.sk ?? ($('#sk') as HTMLInputElement).value.trim();
  lastAk = ak;
  const c = new QiniuClient(ak, sk);
  try {
    apps = await c.call<AppInfo[]>('GET', '/v3/apps');
  } catch (err) {
    sessionStorage.removeItem(STORE_KEY);
    renderSignIn(signInFailure(err));
    return;
  }
  if (!saved && ($('#remember') as HTMLInputElement).checked) sessionStorage.setItem(STORE_KEY, JSON.stringify({ ak, sk }));
  client = c;
  appId = apps[0]?.appId ?? '';
  renderConsole();
  void poll();
}

function signOut(): void {
  sessionStorage.removeItem(STORE_KEY);
  client = null;
  if (timer) clearTimeout(timer);
  renderSignIn();
}

// ---- Console

function renderConsole(): void {
  app.replaceChildren(
    header(),
    h(
      'main',
      { class: 'meeting' },
      h('p', { id: 'alert', role: 'alert', class: 'alert' }),
      h('p', { id: 'live', class: 'hint', 'aria-live': 'off' }),
      h('div', { class: 'columns' },
        h('section', { class: 'card', 'aria-labelledby': 'apps-title' }, h('h2', { id: 'apps-title' }, t('apps')), h('ul', { id: 'apps', class: 'members' })),
        h('section', { class: 'card', 'aria-labelledby': 'rooms-title' }, h('h2', { id: 'rooms-title' }, t('rooms')), h('ul', { id: 'rooms', class: 'members', 'aria-labelledby': 'rooms-title' })),
      ),
      h('section', { class: 'card', id: 'room-box', 'aria-labelledby': 'room-title' }),
    ),
  );
  render();
}

function render(): void {
  if (!document.getElementById('apps')) return;
  $('#live').textContent = updated ? t('live', { time: new Date(updated).toLocaleTimeString() }) : '';
  replaceKeepingFocus(
    $('#apps'),
    apps.map((a) =>
      h('li', { class: 'member' },
        h('span', { class: 'name' }, a.title || t('untitledApp')),
        h('code', {}, a.appId),
        h('button', { type: 'button', 'data-key': `app-${a.appId}`, 'aria-pressed': a.appId === appId ? 'true' : 'false', onclick: () => {
          appId = a.appId;
          openRoom = '';
          void poll();
        } }, t('openApp', { name: a.title || a.appId })),
      ),
    ),
  );
  replaceKeepingFocus(
    $('#rooms'),
    rooms.length === 0
      ? [h('li', {}, t('noRooms'))]
      : rooms.map((r) =>
          h('li', { class: 'member', 'data-room': r.name },
            h('span', { class: 'name' }, r.members === 1 ? t('roomOneMember', { room: r.name }) : t('roomMembers', { room: r.name, n: r.members })),
            h('button', { type: 'button', 'data-key': `open-${r.name}`, onclick: () => {
              openRoom = r.name;
              confirmClose = false;
              void poll();
            } }, t('openRoom', { room: r.name })),
          ),
        ),
  );
  const box = $('#room-box');
  box.hidden = !openRoom || !detail;
  if (!openRoom || !detail) return;
  const d = detail;
  // Locked or open always leads, so a room with no restriction still reads as something.
  const flags = [d.locked ? t('locked') : t('roomOpen'), d.muteAllAudio ? t('muteAudio') : '', d.muteAllChat ? t('muteChat') : '', d.shareBoard ? t('whiteboard') : '', d.shareScreen ? t('shareScreen') : '']
    .filter(Boolean)
    .join(' · ');
  replaceKeepingFocus(box, [
    h('h2', { id: 'room-title' }, t('roomDetails', { room: d.roomName })),
    h('p', {}, t('state', { flags })),
    ...(d.metadata ? [h('p', {}, t('metadataLine', { value: d.metadata }))] : []),
    h('h3', {}, t('members')),
    h('ul', { class: 'members', 'aria-label': t('members') },
      d.users.map((u) =>
        h('li', { class: 'member' },
          h('span', { class: 'name' }, `${u.userName} (${u.userId})`),
          u.metadata ? h('code', { class: 'hint' }, u.metadata) : null,
          h('span', { class: 'states' }, [t(u.role === 'host' ? 'host' : 'participant'), t(u.audio ? 'micOn' : 'micOff'), t(u.video ? 'camOn' : 'camOff')].join(' · ')),
          h('button', { type: 'button', class: 'danger', 'data-key': `kick-${u.userId}`, onclick: () => void kick(u.userId, u.userName) }, t('kickMember', { name: u.userName })),
        ),
      ),
    ),
    h('form', { class: 'chat-form', onsubmit: (e: Event) => (e.preventDefault(), void message()) },
      h('label', { for: 'room-message' }, t('messageRoom')),
      h('input', { id: 'room-message', 'data-key': 'room-message', maxlength: 4000, value: (document.getElementById('room-message') as HTMLInputElement | null)?.value ?? '' }),
      h('button', { type: 'submit', 'data-key': 'send-message' }, t('sendMessage')),
    ),
    h('div', { class: 'controls' },
      h('button', { type: 'button', 'data-key': 'back', onclick: () => {
        openRoom = '';
        render();
      } }, t('back')),
      confirmClose
        ? h('button', { type: 'button', class: 'danger', 'data-key': 'close-confirm', onclick: () => void close() }, t('confirmClose', { room: d.roomName }))
        : h('button', { type: 'button', class: 'danger', 'data-key': 'close', onclick: () => {
            confirmClose = true;
            render();
            document.querySelector<HTMLElement>('[data-key="close-confirm"]')?.focus();
          } }, t('closeRoom')),
    ),
    h('h3', {}, t('events')),
    h('ol', { class: 'events', role: 'log', 'aria-label': t('events') },
      events.slice().reverse().map((e) => h('li', {}, h('code', {}, `#${e.seq}`), ` ${new Date(e.at).toLocaleTimeString()} ${e.type} `, h('span', { class: 'hint' }, describe(e)))),
    ),
    ...lobbySection(),
    ...breakoutsSection(),
    h('h3', {}, t('audit')),
    h('ol', { class: 'events', id: 'audit', role: 'log', 'aria-label': t('audit') },
      audit.length === 0 ? [h('li', {}, t('noAudit'))] : audit.slice().reverse().map(auditLine),
    ),
  ]);
}

/** Who waits in the open room's lobby, with admit and deny; nothing while the lobby is off and empty. */
function lobbySection(): Node[] {
  if (!lobby || (!lobby.on && lobby.users.length === 0)) return [];
  return [
    h('h3', {}, t('waitingRoom')),
    lobby.users.length === 0
      ? h('p', { class: 'hint' }, t('nobodyWaiting'))
      : h('ul', { class: 'members', id: 'lobby-list', 'aria-label': t('waitingRoom') },
          lobby.users.map((u) =>
            h('li', { class: 'member' },
              h('span', { class: 'name' }, `${u.userName} (${u.userId})`),
              h('button', { type: 'button', class: 'primary', 'data-key': `admit-${u.userId}`, onclick: () => void lobbyCall('admit', { users: [u.userId] }) }, t('admitOne', { name: u.userName })),
              h('button', { type: 'button', class: 'danger', 'data-key': `deny-${u.userId}`, onclick: () => void lobbyCall('deny', { user: u.userId }) }, t('denyOne', { name: u.userName })),
            ),
          ),
        ),
  ];
}

/** The open room's breakout rooms: who is in each, the time left, and closing them. */
function breakoutsSection(): Node[] {
  if (!breakouts?.open) return [];
  const left = breakouts.endsAt ? Math.max(0, Math.ceil((breakouts.endsAt - Date.now()) / 1000)) : null;
  return [
    h('h3', {}, t('breakouts')),
    h('p', { role: 'timer', id: 'bo-left' }, breakouts.closing ? t('breakoutsClosing') : left === null ? t('breakoutsNoEnd') : t('breakoutsEndIn', { left: `${Math.floor(left / 60)}:${String(left % 60).padStart(2, '0')}` })),
    h('ul', { class: 'members', id: 'bo-rooms', 'aria-label': t('breakouts') },
      (breakouts.rooms ?? []).map((r) => h('li', { class: 'member' }, h('span', { class: 'name' }, r.name), h('span', { class: 'states' }, r.users.length ? r.users.join(', ') : t('breakoutEmpty'))))),
    breakouts.closing
      ? h('span', {})
      : h('button', { type: 'button', class: 'danger', 'data-key': 'bo-close', onclick: () => void closeBreakouts() }, t('closeBreakouts')),
  ];
}

async function closeBreakouts(): Promise<void> {
  try {
    await client!.call('DELETE', `/v3/apps/${enc(appId)}/rooms/${enc(openRoom)}/breakouts`);
  } catch (err) {
    say(failure(err));
  }
  void poll();
}

async function lobbyCall(what: 'admit' | 'deny', body: unknown): Promise<void> {
  try {
    await client!.call('POST', `/v3/apps/${enc(appId)}/rooms/${enc(openRoom)}/lobby/${what}`, body);
  } catch (err) {
    say(failure(err));
  }
  void poll();
}

/** One audit entry: #n, time, action, by whom, on whom, what changed. */
function auditLine(e: AuditView): HTMLElement {
  const who = e.actor.kind === 'server' ? e.actor.by : `${e.actor.userName} (${e.actor.role})`;
  const change = Object.keys(e.after).map((k) => (k in e.before ? `${k} ${JSON.stringify(e.before[k])} → ${JSON.stringify(e.after[k])}` : `${k} ${JSON.stringify(e.after[k])}`)).join(', ');
  return h('li', { 'data-action': e.action },
    h('code', {}, `#${e.n}`), ` ${new Date(e.at).toLocaleTimeString()} `, h('strong', {}, e.action), ` ${t('auditBy', { who })}`,
    e.target ? ` ${t('auditOn', { who: e.target.userName })}` : '', ' ', h('span', { class: 'hint' }, change));
}

/** A short line for an event: who and what, from its fields. */
function describe(e: EventView): string {
  const ev = e.event as Record<string, any>;
  switch (e.type) {
    case 'membersChanged':
      return (ev.changes ?? []).map((c: any) => `${c.present ?? c.state ? '+' : '−'} ${c.member?.userName ?? c.userName ?? ''}`).join(', ');
    case 'chatSent':
      return `${ev.from?.userName ?? ''}: ${ev.message ?? ''}`;
    case 'roomChanged':
      return `muteAllAudio ${ev.muteAllAudio}, muteAllChat ${ev.muteAllChat}${ev.ended ? ', ended' : ''}${ev.locked ? ', locked' : ''}`;
    case 'memberKicked':
      return `${ev.target?.userName ?? ''}`;
    case 'serverMessage':
      return String(ev.text ?? '');
    default:
      return '';
  }
}

const enc = encodeURIComponent;

async function poll(): Promise<void> {
  if (timer) clearTimeout(timer);
  timer = null;
  const c = client;
  if (!c) return;
  try {
    if (appId) {
      const list = await c.call<{ rooms: string[] }>('GET', `/v3/apps/${enc(appId)}/rooms?limit=100`);
      rooms = await Promise.all(
        list.rooms.map(async (name) => {
          const users = await c.call<{ users: unknown[] }>('GET', `/v3/apps/${enc(appId)}/rooms/${enc(name)}/users`).catch(() => ({ users: [] }));
          return { name, members: users.users.length };
        }),
      );
    } else rooms = [];
    if (openRoom) {
      try {
        detail = await c.call<RoomDetail>('GET', `/v3/apps/${enc(appId)}/rooms/${enc(openRoom)}`);
        events = (await c.call<{ events: EventView[] }>('GET', `/v3/apps/${enc(appId)}/rooms/${enc(openRoom)}/events?limit=50`)).events;
        lobby = await c.call<NonNullable<typeof lobby>>('GET', `/v3/apps/${enc(appId)}/rooms/${enc(openRoom)}/lobby`);
        breakouts = await c.call<NonNullable<typeof breakouts>>('GET', `/v3/apps/${enc(appId)}/rooms/${enc(openRoom)}/breakouts`);
        // The newest 50 of the running meeting's log.
        const head = await c.call<{ total: number; entries: AuditView[] }>('GET', `/v3/apps/${enc(appId)}/rooms/${enc(openRoom)}/audit?limit=1`);
        const from = Math.max(0, head.total - 50);
        audit = head.total <= 1 ? head.entries : (await c.call<{ entries: AuditView[] }>('GET', `/v3/apps/${enc(appId)}/rooms/${enc(openRoom)}/audit?offset=${from}&limit=50`)).entries;
      } catch (err) {
        if (err instanceof QiniuError && err.status === 615) {
          openRoom = '';
          detail = null;
        } else throw err;
      }
    }
    updated = Date.now();
  } catch (err) {
    say(failure(err));
  }
  if (client !== c) return;
  render();
  timer = setTimeout(() => void poll(), POLL_MS);
}

async function kick(userId: string, name: string): Promise<void> {
  try {
    await client!.call('DELETE', `/v3/apps/${enc(appId)}/rooms/${enc(openRoom)}/users/${enc(userId)}`);
    say(t('removed', { name }), true);
  } catch (err) {
    say(failure(err));
  }
  void poll();
}

async function message(): Promise<void> {
  const input = $('#room-message') as HTMLInputElement;
  const text = input.value.trim();
  if (!text) return;
  try {
    await client!.call('POST', `/v3/apps/${enc(appId)}/rooms/${enc(openRoom)}/message`, { text });
    input.value = '';
    say(t('sent'), true);
  } catch (err) {
    say(failure(err));
  }
}

async function close(): Promise<void> {
  const room = openRoom;
  try {
    await client!.call('DELETE', `/v3/apps/${enc(appId)}/rooms/${enc(room)}`);
    say(t('closed', { room }), true);
    openRoom = '';
    detail = null;
  } catch (err) {
    say(failure(err));
  }
  confirmClose = false;
  void poll();
}

const saved = sessionStorage.getItem(STORE_KEY);
if (saved && webCryptoAvailable()) void signIn(JSON.parse(saved) as { ak: string; sk: string });
else renderSignIn();
