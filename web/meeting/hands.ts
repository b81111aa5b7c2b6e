// The hand queue on the meeting page: hands in the order they were raised, for the hosts (and for
// everyone when a host makes it public), with the host's answers: let the first speak, lower one,
// lower all, show the queue to everyone or not.
import type { MeetingClient } from '../../client/agora.ts';
import type { RaisedHand } from '../../client/realtime.ts';
import { h } from '../lib/dom.ts';
import { t } from '../lib/i18n.ts';

type Button = (key: string, text: string, onclick: () => void, attrs?: Record<string, string | boolean>) => HTMLButtonElement;
type Act = (fn: (c: MeetingClient) => Promise<unknown>) => Promise<void>;

/** The card's contents; empty when this member sees no queue (not a host, not public). */
export function handsCard(hands: { public: boolean; list: RaisedHand[] }, isHost: boolean, button: Button, act: Act): Node[] {
  // Shown while a hand is up (to the hosts) or the queue is public (to everyone): no empty card.
  if ((!isHost && !hands.public) || (hands.list.length === 0 && !hands.public)) return [];
  const first = hands.list[0];
  const items = hands.list.map((hand, i) =>
    h('li', { 'data-user': hand.userId }, `${i + 1}. ${hand.userName} `, h('span', { class: 'hint' }, new Date(hand.at).toLocaleTimeString()), ' ',
      isHost ? button(`lower-${hand.userId}`, t('lowerHandOf', { name: hand.userName }), () => void act((c) => c.lowerHand(hand.userId))) : ''),
  );
  const tools: Node[] = [];
  if (isHost) {
    if (first) tools.push(button('answer-next', t('answerNext', { name: first.userName }), () => void act((c) => c.answerNextHand()), { class: 'primary' }));
    if (hands.list.length > 1) tools.push(button('lower-all', t('lowerAllHands'), () => void act((c) => c.lowerAllHands())));
    tools.push(button('hands-public', t(hands.public ? 'handsToHosts' : 'handsToAll'), () => void act((c) => c.setHandsPublic(!hands.public))));
  }
  const card: Node[] = [
    h('h2', { id: 'hands-title' }, t('raisedHands')),
    hands.list.length ? h('ol', { class: 'hands', id: 'hands' }, items) : h('p', { class: 'hint' }, t('noHands')),
  ];
  if (tools.length) card.push(h('div', { class: 'controls' }, tools));
  return card;
}
