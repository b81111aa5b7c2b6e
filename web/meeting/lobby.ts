// The waiting room on the meeting page: for a member who knocked, the lobby screen (it waits, it may
// leave; admitted, it enters; denied, it is told why); for the hosts, the room's waiting-room switch
// and who waits, with admit, admit all and deny.
import type { MeetingClient } from '../../client/agora.ts';
import { RealtimeClient, type LobbyKnock } from '../../client/realtime.ts';
import { h } from '../lib/dom.ts';
import { t } from '../lib/i18n.ts';

type Button = (key: string, text: string, onclick: () => void, attrs?: Record<string, string | boolean>) => HTMLButtonElement;
type Act = (fn: (c: MeetingClient) => Promise<unknown>) => Promise<void>;

/** The host's card: the switch, and who waits (empty list: nobody). */
export function lobbyCard(lobby: { on: boolean; list: LobbyKnock[] }, isHost: boolean, button: Button, act: Act): Node[] {
  if (!isHost) return [];
  const items = lobby.list.map((k) =>
    h('li', { 'data-user': k.userId }, `${k.userName} `, h('span', { class: 'hint' }, new Date(k.at).toLocaleTimeString()), ' ',
      button(`admit-${k.userId}`, t('admitOne', { name: k.userName }), () => void act((c) => c.admit([k.userId])), { class: 'primary' }), ' ',
      button(`deny-${k.userId}`, t('denyOne', { name: k.userName }), () => void act((c) => c.deny(k.userId, t('denyReason'))), { class: 'danger' })),
  );
  const tools: Node[] = [
    button('lobby-toggle', t(lobby.on ? 'lobbyOff' : 'lobbyOn'), () => void act((c) => c.setLobby({ on: lobby.on ? 0 : 1 })), { 'aria-pressed': lobby.on ? 'true' : 'false' }),
  ];
  if (lobby.list.length > 1) tools.push(button('admit-all', t('admitAll', { n: lobby.list.length }), () => void act((c) => c.admit())));
  return [
    h('h2', { id: 'lobby-title' }, t('waitingRoom')),
    lobby.list.length ? h('ul', { class: 'members', id: 'lobby-list' }, items) : h('p', { class: 'hint' }, t(lobby.on ? 'nobodyWaiting' : 'lobbyIsOff')),
    h('div', { class: 'controls' }, tools),
  ];
}

export type LobbyOutcome = { admitted: true } | { admitted: false; reason: string | null };

/**
 * The lobby screen for a member whose entry knocked: its own socket tells it the answer (cmd 111).
 * Resolves when it is admitted, denied (with the reason) or leaves (`reason` null).
 */
export function waitInLobby(main: HTMLElement, client: MeetingClient, button: Button): Promise<LobbyOutcome> {
  const socket = new RealtimeClient({ baseUrl: location.origin, token: client.userToken });
  return new Promise((resolve) => {
    let done = false;
    const finish = (o: LobbyOutcome) => {
      if (done) return;
      done = true;
      void socket.close();
      resolve(o);
    };
    main.replaceChildren(
      h('section', { class: 'card', id: 'lobby-screen', 'aria-labelledby': 'waiting-title' },
        h('h1', { id: 'waiting-title' }, t('waitingTitle')),
        h('p', { role: 'status' }, t('waitingText')),
        h('div', { class: 'controls' }, button('leave-lobby', t('leaveLobby'), () => {
          void client.leaveLobby().catch(() => {});
          finish({ admitted: false, reason: null });
        })),
      ),
    );
    socket.on((m) => {
      const answer = socket.state.lobbyAnswer;
      if (m.type === 'snapshot' || answer?.state === 'admitted') finish({ admitted: true });
      else if (answer?.state === 'denied') finish({ admitted: false, reason: answer.reason ?? '' });
    });
    // Denied: the socket closes with 4425 after the answer (handled above); any other close while waiting retries by itself.
    socket.onClose((code) => {
      if (code === 4425) finish({ admitted: false, reason: socket.state.lobbyAnswer?.reason ?? '' });
    });
    void socket.connect().catch(() => {});
  });
}
