// The meeting's tiles: one per member (its camera, or its initials), who speaks, who is muted, and
// a shared screen large above them. The media elements are made once per member and kept, so that
// re-rendering the page never restarts a video; what they play follows the room's rules (a member
// the room has muted is not heard here even if its page still sends).
import type { AgoraMember } from '../../client/agora.ts';
import { h } from '../lib/dom.ts';
import { t } from '../lib/i18n.ts';
import type { Mesh, RemoteMedia, RoomState } from './mesh.ts';

interface Tile {
  box: HTMLElement;
  video: HTMLVideoElement;
  audio: HTMLAudioElement;
  initials: HTMLElement;
  caption: HTMLElement;
}

export class Tiles {
  readonly element = h('section', { class: 'stage', 'aria-label': '' });
  private readonly screen = h('video', { class: 'screen', autoplay: true, playsinline: true, muted: true, 'data-key': 'screen-video' });
  private readonly grid = h('div', { class: 'tiles' });
  private readonly note = h('p', { class: 'hint', id: 'media-note', role: 'status' });
  private readonly tiles = new Map<string, Tile>();

  constructor() {
    this.screen.hidden = true;
    this.element.append(this.note, this.screen, this.grid);
  }

  render(mesh: Mesh, me: string, members: AgoraMember[], room: RoomState, online: number): void {
    this.element.setAttribute('aria-label', t('stage'));
    const active = mesh.active;
    const max = mesh.meshMax;
    this.note.textContent =
      max === null ? '' : max === 0 ? t('meshOff') : !active && online > max ? t('meshTooBig', { n: online, max }) : mesh.problem ? t('mediaProblem', { why: mesh.problem }) : '';
    const remotes = new Map<string, RemoteMedia>(mesh.remotes.map((r) => [r.userId, r]));
    const seen = new Set<string>();
    for (const m of members) {
      seen.add(m.userId);
      const tile = this.tile(m.userId);
      const self = m.userId === me;
      const remote = remotes.get(m.userId);
      const videoTrack = self ? mesh.localTrack('camera') : remote?.camera.getVideoTracks()[0] ?? null;
      const showVideo = m.enableVideo === 1 && !!videoTrack && (self || (active && remote?.state === 'connected'));
      setStream(tile.video, showVideo ? (self ? new MediaStream([videoTrack!]) : remote!.camera) : null);
      tile.video.hidden = !showVideo;
      tile.initials.hidden = showVideo;
      tile.initials.textContent = initials(m.userName);
      // Heard only while the room lets the member speak; never one's own voice.
      const hear = !self && active && m.enableAudio === 1 && !!remote;
      setStream(tile.audio, hear ? remote!.audio : null);
      tile.audio.muted = !hear;
      const speaking = self ? mesh.selfSpeaking && m.enableAudio === 1 : !!remote?.speaking;
      tile.box.classList.toggle('speaking', speaking);
      tile.box.dataset.user = m.userId;
      tile.box.dataset.state = self ? 'self' : remote?.state ?? 'none';
      tile.caption.textContent = `${m.userName}${self ? ` (${t('you')})` : ''}${m.role === 1 ? ` · ${t('host')}` : ''} · ${t(m.enableAudio === 1 ? 'micOn' : 'micOff')}${speaking ? ` · ${t('speaking')}` : ''}`;
    }
    for (const [id, tile] of this.tiles) {
      if (seen.has(id)) continue;
      setStream(tile.video, null);
      setStream(tile.audio, null);
      tile.box.remove();
      this.tiles.delete(id);
    }
    this.grid.replaceChildren(...members.map((m) => this.tiles.get(m.userId)!.box));
    // The shared screen, large: the sharer's own page shows what it sends.
    const sharer = room?.shareScreen === 1 ? members.find((m) => m.grantScreen === 1) : undefined;
    const remoteScreen = sharer && sharer.userId !== me ? remotes.get(sharer.userId) : undefined;
    const screen = !sharer ? null : sharer.userId === me ? track(mesh.localTrack('screen')) : active && remoteScreen?.state === 'connected' ? remoteScreen.screen : null;
    setStream(this.screen, screen);
    this.screen.hidden = !screen;
    this.screen.setAttribute('aria-label', sharer ? t('screenShared', { name: sharer.userName }) : '');
  }

  /** The meeting is over for this page: nothing plays any more. */
  clear(): void {
    for (const tile of this.tiles.values()) {
      setStream(tile.video, null);
      setStream(tile.audio, null);
    }
    this.tiles.clear();
    this.grid.replaceChildren();
    setStream(this.screen, null);
    this.screen.hidden = true;
    this.note.textContent = '';
  }

  private tile(userId: string): Tile {
    let tile = this.tiles.get(userId);
    if (tile) return tile;
    const video = h('video', { autoplay: true, playsinline: true, muted: true });
    const audio = h('audio', { autoplay: true });
    const initials = h('span', { class: 'initials', 'aria-hidden': 'true' });
    const caption = h('figcaption', {});
    tile = { box: h('figure', { class: 'tile' }, video, initials, audio, caption), video, audio, initials, caption };
    this.tiles.set(userId, tile);
    return tile;
  }
}

function track(t: MediaStreamTrack | null): MediaStream | null {
  return t ? new MediaStream([t]) : null;
}

/** Play a stream in an element, unless it already plays the same tracks. */
function setStream(el: HTMLMediaElement, stream: MediaStream | null): void {
  const now = el.srcObject as MediaStream | null;
  const same = (a: MediaStream | null, b: MediaStream | null) => {
    const x = a?.getTracks() ?? [];
    const y = b?.getTracks() ?? [];
    return x.length === y.length && x.every((tr, i) => tr === y[i]);
  };
  if (same(now, stream)) return;
  el.srcObject = stream;
  if (stream) void el.play().catch(() => {});
}

function initials(name: string): string {
  const parts = name.trim().split(/\s+/).filter(Boolean);
  const letters = parts.length > 1 ? [parts[0]![0], parts[parts.length - 1]![0]] : [...(parts[0] ?? '?')].slice(0, 2);
  return letters.join('').toUpperCase();
}
