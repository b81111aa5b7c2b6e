// Breakout rooms on the meeting page: the host opens them (how many, how members are placed, for
// how long), sees who is where with the countdown, moves members, adds time, messages every room
// and closes them; members choose a room when the host lets them; a member in a breakout sees its
// name and countdown, and may go back to the main meeting.
import type { BreakoutRound, MeetingClient } from '../../client/agora.ts';
import type { AgoraMember } from '../../client/agora.ts';
import { h } from '../lib/dom.ts';
import { t } from '../lib/i18n.ts';

type Button = (key: string, text: string, onclick: () => void, attrs?: Record<string, string | boolean>) => HTMLButtonElement;
type Act = (fn: (c: MeetingClient) => Promise<unknown>) => Promise<void>;

/**
 * A countdown's text, kept up to date once a second by tickCountdowns (not by re-drawing the page,
 * which would take an open select or a half-typed message from the host).
 */
function countdown(endsAt: number, words: (left: string) => string): HTMLElement {
  return h('span', { 'data-ends': String(endsAt), 'data-words': words('\u0000') }, words(timeLeft(endsAt)));
}

/** Every countdown on the page, to the second. */
export function tickCountdowns(): void {
  for (const el of document.querySelectorAll<HTMLElement>('[data-ends]')) {
    el.textContent = (el.dataset.words ?? '').replace('\u0000', timeLeft(Number(el.dataset.ends)));
  }
}

/** The host's message to every room: one input for the page's life, so re-draws keep what is typed. */
const messageInput = h('input', { id: 'bo-message', maxlength: 1000, 'data-key': 'bo-message' }) as HTMLInputElement;

/** "9:58": what is left until `endsAt` (epoch ms); '' for no end. */
export function timeLeft(endsAt: number, now = Date.now()): string {
  if (!endsAt) return '';
  const s = Math.max(0, Math.ceil((endsAt - now) / 1000));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

const field = (id: string, label: string, input: HTMLElement) => h('p', { class: 'field' }, h('label', { for: id }, label), input);

/** The host's form to open a round: made once, so that what is typed survives the page's re-renders. */
let form: HTMLElement | null = null;
function openForm(act: Act): Node[] {
  if (form) return [form];
  const count = h('input', { id: 'bo-count', type: 'number', min: 1, max: 50, value: 2 }) as HTMLInputElement;
  const minutes = h('input', { id: 'bo-minutes', type: 'number', min: 0, max: 1440, value: 10 }) as HTMLInputElement;
  const how = h('select', { id: 'bo-assignment' }, h('option', { value: 'random' }, t('assignRandom')), h('option', { value: 'choose' }, t('assignChoose'))) as HTMLSelectElement;
  const submit = (e: Event) => {
    e.preventDefault();
    const n = Math.min(50, Math.max(1, Number(count.value) || 1));
    const rooms = Array.from({ length: n }, (_, i) => t('breakoutName', { n: i + 1 }));
    const durationSeconds = Math.round((Number(minutes.value) || 0) * 60) || undefined;
    void act((c) => c.openBreakouts({ rooms, assignment: how.value as 'random' | 'choose', durationSeconds }));
  };
  form = h('form', { class: 'controls', id: 'bo-open', onsubmit: submit },
    field('bo-count', t('breakoutCount'), count), field('bo-assignment', t('breakoutAssignment'), how), field('bo-minutes', t('breakoutMinutes'), minutes),
    h('button', { type: 'submit', class: 'primary', 'data-key': 'bo-open' }, t('openBreakouts')));
  return [form];
}

/** The language changed: the form is made again in it. */
export function forgetForm(): void {
  form = null;
}

/**
 * The main meeting's card: the host's form or the open round (rooms, who is in each, the countdown,
 * moves, more time, a message to all, close); for a member, the rooms to choose from when allowed.
 */
export function breakoutsCard(round: BreakoutRound | null, members: ReadonlyMap<string, AgoraMember>, me: string, isHost: boolean, button: Button, act: Act): Node[] {
  if (!round || round.open !== 1) return isHost ? [h('h2', { id: 'breakouts-title' }, t('breakouts')), ...openForm(act)] : [];
  const rooms = round.rooms ?? [];
  const name = (userId: string) => members.get(userId)?.userName ?? userId;
  const left = timeLeft(round.endsAt ?? 0);
  const card: Node[] = [
    h('h2', { id: 'breakouts-title' }, t('breakouts')),
    h('p', { role: 'timer', id: 'bo-countdown' }, round.closing ? t('breakoutsClosing') : left ? countdown(round.endsAt!, (l) => t('breakoutsEndIn', { left: l })) : t('breakoutsNoEnd')),
  ];
  const moveSelect = (userId: string, from: string) =>
    h('select', {
      'aria-label': t('moveMember', { name: name(userId) }),
      'data-key': `move-${userId}`,
      onchange: (e: Event) => void act((c) => c.moveToBreakout(userId, (e.target as HTMLSelectElement).value)),
    },
    h('option', { value: from, selected: true }, t('moveTo')),
    ...rooms.filter((r) => r.roomId !== from).map((r) => h('option', { value: r.roomId }, r.name)),
    from ? h('option', { value: '' }, t('mainMeeting')) : '');
  card.push(h('ul', { class: 'members', id: 'bo-rooms' }, rooms.map((r) =>
    h('li', { 'data-room': r.roomId },
      h('b', {}, `${r.name} `), h('span', { class: 'hint' }, r.members.length ? r.members.map(name).join(', ') : t('breakoutEmpty')),
      !isHost && round.assignment === 'choose' && !r.members.includes(me) ? button(`join-${r.roomId}`, t('joinBreakout', { name: r.name }), () => void act((c) => c.moveToBreakout(me, r.roomId))) : '',
      ...(isHost ? r.members.map((id) => h('span', {}, ' ', moveSelect(id, r.roomId))) : []),
    ))));
  if (!isHost || round.closing) return card;
  const unplaced = [...members.values()].filter((m) => m.userId !== me && !rooms.some((r) => r.members.includes(m.userId)));
  if (unplaced.length) card.push(h('p', {}, `${t('inMainMeeting')}: `, ...unplaced.map((m) => h('span', {}, `${m.userName} `, moveSelect(m.userId, ''), ' '))));
  const text = messageInput;
  text.setAttribute('aria-label', t('messageBreakouts'));
  card.push(
    h('form', { class: 'chat-form', onsubmit: (e: Event) => (e.preventDefault(), text.value.trim() && void act((c) => c.messageBreakouts(text.value.trim())).then(() => (text.value = ''))) },
      text, h('button', { type: 'submit', 'data-key': 'bo-send' }, t('messageBreakouts'))),
    h('div', { class: 'controls' },
      round.endsAt ? button('bo-extend', t('extendBreakouts'), () => void act((c) => c.extendBreakouts(300))) : '',
      button('bo-close', t('closeBreakouts'), () => void act((c) => c.closeBreakouts()), { class: 'danger' })),
  );
  return card;
}

/** In a breakout: where the member is, the countdown, and the way back. */
export function breakoutBanner(breakout: { name: string; endsAt: number } | null, button: Button, back: () => void): Node[] {
  if (!breakout) return [];
  const left = timeLeft(breakout.endsAt);
  return [
    h('p', { role: 'timer', id: 'bo-banner' }, h('b', {}, t('inBreakout', { name: breakout.name })), left ? ' · ' : '', left ? countdown(breakout.endsAt, (l) => t('breakoutsEndIn', { left: l })) : ''),
    button('bo-back', t('backToMain'), back),
  ];
}
