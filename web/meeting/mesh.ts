// The page's own media for small rooms: every pair of members is joined by one RTCPeerConnection
// (a mesh), set up through signals relayed by Convene's realtime socket (media=1). The meeting's
// state is the media's rule: a member sends its microphone, camera and screen only while the room
// allows it (enableAudio, enableVideo, the screen share), and shows another's only while the room
// says that member may send it. Each connection carries three fixed transceivers (audio, camera,
// screen) negotiated once; turning media on or off is replaceTrack, which needs no renegotiation.
import type { AgoraMember } from '../../client/agora.ts';
import type { RealtimeClient } from '../../client/realtime.ts';

/** The room as the page's state holds it. */
export type RoomState = RealtimeClient['state']['room'];
import type { MediaIceServer } from '../../client/realtime.ts';

/** What the room lets each member send now, as the page reads the meeting state. */
export interface MeshState {
  me: string;
  members: ReadonlyMap<string, AgoraMember>;
  room: RoomState;
  /** Members present (the room's count, which may exceed the members this page knows). */
  online: number;
}

/** One remote member's media, for the tiles. */
export interface RemoteMedia {
  userId: string;
  audio: MediaStream;
  camera: MediaStream;
  screen: MediaStream;
  /** The peer connection's state: new, connecting, connected, disconnected, failed, closed. */
  state: RTCPeerConnectionState;
  /** Heard now (audio level above a threshold, while the room lets the member speak). */
  speaking: boolean;
}

type Kind = 'audio' | 'camera' | 'screen';
const KINDS: Kind[] = ['audio', 'camera', 'screen'];

interface Peer {
  userId: string;
  /** This connection's id: a new offer (a new id) replaces the connection it finds. */
  id: string;
  pc: RTCPeerConnection;
  senders: Record<Kind, RTCRtpSender | null>;
  remote: RemoteMedia;
  /** Signals for this connection, handled one at a time in arrival order. */
  queue: Promise<void>;
  retry: ReturnType<typeof setTimeout> | null;
}

const SPEAKING_LEVEL = 0.04;

export class Mesh {
  private readonly peers = new Map<string, Peer>();
  private iceServers: MediaIceServer[] = [];
  /** Members a room may have for the mesh; null until the server has said (media frame). */
  meshMax: number | null = null;
  private state: MeshState | null = null;
  private readonly local: Record<Kind, MediaStreamTrack | null> = { audio: null, camera: null, screen: null };
  /** Acquiring a track (getUserMedia) is in flight for these kinds. */
  private readonly acquiring = new Set<Kind>();
  /** The device could not be had (denied, none): not asked again until the member turns it off and on. */
  private readonly refused = new Set<Kind>();
  private poller: ReturnType<typeof setInterval> | null = null;
  private closed = false;
  /** A socket opened: once the page knows the room, ask for the offers it should get. */
  private helloDue = false;
  /** Why local media could not start (no device, permission denied), for the page to say. */
  problem: string | null = null;
  selfSpeaking = false;
  /** The room said this member shares its screen, when last looked at. */
  private screenShared = false;
  private levels: { ctx: AudioContext; analyser: AnalyserNode } | null = null;

  constructor(
    private readonly send: (to: string, signal: Record<string, unknown>) => boolean,
    private readonly changed: () => void,
  ) {}

  /** The server's media frame: mesh size and ICE servers (fresh TURN credentials on each socket). */
  configure(meshMax: number, iceServers: MediaIceServer[]): void {
    this.meshMax = meshMax;
    this.helloDue = true;
    this.iceServers = iceServers;
    for (const p of this.peers.values()) p.pc.setConfiguration?.({ iceServers });
    this.poller ??= setInterval(() => void this.measure(), 250);
  }

  /** Whether the room is small enough for the mesh (false until the server has said). */
  get active(): boolean {
    const s = this.state;
    return !this.closed && this.meshMax !== null && this.meshMax > 0 && s !== null && s.online <= this.meshMax && s.members.has(s.me);
  }

  get remotes(): RemoteMedia[] {
    return [...this.peers.values()].map((p) => p.remote);
  }

  localTrack(kind: Kind): MediaStreamTrack | null {
    return this.local[kind];
  }

  /** The meeting changed: connect to newcomers, drop who left, send only what the room allows. */
  sync(state: MeshState): void {
    this.state = state;
    if (!this.active) {
      for (const id of [...this.peers.keys()]) this.drop(id);
      void this.applyLocal();
      return;
    }
    for (const id of [...this.peers.keys()]) if (!state.members.has(id)) this.drop(id);
    for (const id of state.members.keys()) if (id !== state.me && !this.peers.has(id) && state.me < id) this.connect(id);
    // The socket is (re)open: the connections this page answers and does not have (a reload) are
    // asked of their offerer; those it has carry on across a socket's reconnection.
    if (this.helloDue) for (const id of state.members.keys()) if (id < state.me && !this.peers.has(id)) this.send(id, { want: true });
    this.helloDue = false;
    void this.applyLocal();
  }

  /** A signal from another member. Only current members of the room are listened to. */
  signal(from: string, signal: Record<string, unknown>): void {
    if (!this.active || !this.state!.members.has(from) || from === this.state!.me) return;
    if (signal.want === true) {
      if (this.state!.me < from) this.connect(from);
      return;
    }
    const id = typeof signal.pc === 'string' ? signal.pc : '';
    const description = signal.description as RTCSessionDescriptionInit | undefined;
    if (description?.type === 'offer' && this.state!.me > from) {
      if (this.peers.get(from)?.id !== id) this.open(from, id, false);
    }
    const peer = this.peers.get(from);
    if (!peer || peer.id !== id) return;
    peer.queue = peer.queue.then(() => this.handle(peer, description, signal.candidate as RTCIceCandidateInit | undefined)).catch(() => this.failed(peer));
  }

  /** Screen share: the display stream the user picked (in the click's gesture), or null to stop. */
  setScreen(track: MediaStreamTrack | null): void {
    this.local.screen?.stop();
    this.local.screen = track;
    this.screenShared = false;
    void this.applyLocal();
  }

  close(): void {
    this.closed = true;
    for (const id of [...this.peers.keys()]) this.drop(id);
    for (const k of KINDS) this.stopLocal(k);
    if (this.poller) clearInterval(this.poller);
    void this.levels?.ctx.close().catch(() => {});
    this.levels = null;
  }

  // ---- Connections

  /** This page offers (the member with the smaller userId offers): a new connection, a new id. */
  private connect(userId: string): void {
    const peer = this.open(userId, Math.random().toString(36).slice(2, 10), true);
    peer.queue = peer.queue
      .then(async () => {
        await peer.pc.setLocalDescription(await peer.pc.createOffer());
        this.send(userId, { pc: peer.id, description: peer.pc.localDescription!.toJSON() });
      })
      .catch(() => this.failed(peer));
  }

  private open(userId: string, id: string, offerer: boolean): Peer {
    this.drop(userId);
    const pc = new RTCPeerConnection({ iceServers: this.iceServers });
    const peer: Peer = {
      userId,
      id,
      pc,
      senders: { audio: null, camera: null, screen: null },
      remote: { userId, audio: new MediaStream(), camera: new MediaStream(), screen: new MediaStream(), state: 'new', speaking: false },
      queue: Promise.resolve(),
      retry: null,
    };
    if (offerer) {
      // Fixed order on both sides: the answerer finds them in this order in the offer.
      for (const kind of KINDS) peer.senders[kind] = pc.addTransceiver(kind === 'audio' ? 'audio' : 'video', { direction: 'sendrecv' }).sender;
      this.track(peer);
    }
    pc.onicecandidate = (e) => {
      if (e.candidate && this.peers.get(userId) === peer) this.send(userId, { pc: id, candidate: e.candidate.toJSON() });
    };
    pc.onconnectionstatechange = () => {
      peer.remote.state = pc.connectionState;
      if (pc.connectionState === 'failed') this.failed(peer);
      this.changed();
    };
    this.peers.set(userId, peer);
    return peer;
  }

  private async handle(peer: Peer, description: RTCSessionDescriptionInit | undefined, candidate: RTCIceCandidateInit | undefined): Promise<void> {
    const pc = peer.pc;
    if (description?.type === 'offer') {
      await pc.setRemoteDescription(description);
      const transceivers = pc.getTransceivers();
      KINDS.forEach((kind, i) => {
        const t = transceivers[i];
        if (!t) return;
        t.direction = 'sendrecv';
        peer.senders[kind] = t.sender;
      });
      this.track(peer);
      await this.applyTo(peer);
      await pc.setLocalDescription(await pc.createAnswer());
      this.send(peer.userId, { pc: peer.id, description: pc.localDescription!.toJSON() });
    } else if (description?.type === 'answer') {
      if (pc.signalingState === 'have-local-offer') await pc.setRemoteDescription(description);
    } else if (candidate) {
      await pc.addIceCandidate(candidate).catch(() => {});
    }
    if (description) await this.applyTo(peer);
  }

  /** The remote tracks, one stream per kind (the tiles play them as the room allows). */
  private track(peer: Peer): void {
    peer.pc.getTransceivers().forEach((t, i) => {
      const kind = KINDS[i];
      if (kind) peer.remote[kind] = new MediaStream([t.receiver.track]);
    });
  }

  /** A connection that failed is made again: by its offerer after a pause, or asked for by the other. */
  private failed(peer: Peer): void {
    if (this.peers.get(peer.userId) !== peer || peer.retry || !this.state) return;
    const offerer = this.state.me < peer.userId;
    peer.retry = setTimeout(() => {
      if (this.peers.get(peer.userId) !== peer || !this.active) return;
      if (offerer) this.connect(peer.userId);
      else this.send(peer.userId, { want: true });
    }, 1000 + Math.random() * 1000);
  }

  private drop(userId: string): void {
    const peer = this.peers.get(userId);
    if (!peer) return;
    this.peers.delete(userId);
    if (peer.retry) clearTimeout(peer.retry);
    peer.pc.onconnectionstatechange = null;
    peer.pc.onicecandidate = null;
    peer.pc.close();
    this.changed();
  }

  // ---- What this page sends

  /** What the room lets this member send now. */
  private allowed(): Record<Kind, boolean> {
    const s = this.state;
    const m = s?.members.get(s.me);
    const on = this.active && !!m;
    return {
      audio: on && m!.enableAudio === 1,
      camera: on && m!.enableVideo === 1,
      screen: on && m!.grantScreen === 1 && s!.room?.shareScreen === 1,
    };
  }

  /** Start or stop the local tracks as the room allows, then put them on every connection. */
  private async applyLocal(): Promise<void> {
    const allowed = this.allowed();
    // The camera stays on for the page's own tile while the member has it on, mesh or not.
    const camera = !this.closed && !!this.state?.members.get(this.state.me) && this.state.members.get(this.state.me)!.enableVideo === 1;
    // The screen the user picked waits for the room to say it is shared; once the room stops it
    // (the member, or the host), it is stopped.
    const screen = allowed.screen || (this.local.screen !== null && !this.screenShared);
    this.screenShared = allowed.screen;
    const want: Record<Kind, boolean> = { audio: allowed.audio, camera, screen };
    for (const kind of KINDS) if (!want[kind]) this.stopLocal(kind), this.refused.delete(kind);
    for (const p of this.peers.values()) await this.applyTo(p);
    const missing = (['audio', 'camera'] as const).filter((k) => want[k] && !this.local[k] && !this.acquiring.has(k) && !this.refused.has(k));
    if (missing.length === 0) return;
    for (const k of missing) this.acquiring.add(k);
    let kind: Kind | undefined;
    try {
      for (kind of missing) {
        const stream = await navigator.mediaDevices.getUserMedia(kind === 'audio' ? { audio: true } : { video: { width: 640, height: 360 } });
        const track = stream.getTracks()[0]!;
        // The room may have changed its mind meanwhile.
        if (this.closed || !(kind === 'audio' ? this.allowed().audio : this.state?.members.get(this.state.me)?.enableVideo === 1)) track.stop();
        else this.local[kind] = track;
      }
      this.problem = null;
    } catch (err) {
      if (kind) this.refused.add(kind);
      this.problem = (err as Error).name || 'media unavailable';
    } finally {
      for (const k of missing) this.acquiring.delete(k);
    }
    for (const p of this.peers.values()) await this.applyTo(p);
    this.changed();
  }

  /** Each sender carries its track only while the room allows it; otherwise nothing at all. */
  private async applyTo(peer: Peer): Promise<void> {
    const allowed = this.allowed();
    for (const kind of KINDS) {
      const sender = peer.senders[kind];
      const track = allowed[kind] ? this.local[kind] : null;
      if (sender && sender.track !== track) await sender.replaceTrack(track).catch(() => {});
    }
  }

  private stopLocal(kind: Kind): void {
    const track = this.local[kind];
    if (!track) return;
    this.local[kind] = null;
    track.stop();
    if (kind === 'audio' && this.levels) {
      void this.levels.ctx.close().catch(() => {});
      this.levels = null;
    }
    for (const p of this.peers.values()) if (p.senders[kind]?.track === track) void p.senders[kind]!.replaceTrack(null).catch(() => {});
  }

  // ---- Who is speaking

  private async measure(): Promise<void> {
    const s = this.state;
    if (!s) return;
    let any = false;
    for (const p of this.peers.values()) {
      const receiver = p.pc.getReceivers().find((r) => r.track.kind === 'audio');
      const level = receiver?.getSynchronizationSources?.()[0]?.audioLevel ?? 0;
      const speaking = level > SPEAKING_LEVEL && s.members.get(p.userId)?.enableAudio === 1;
      if (speaking !== p.remote.speaking) (p.remote.speaking = speaking), (any = true);
    }
    const self = this.selfLevel() > SPEAKING_LEVEL;
    if (self !== this.selfSpeaking) (this.selfSpeaking = self), (any = true);
    if (any) this.changed();
  }

  private selfLevel(): number {
    const track = this.local.audio;
    if (!track || !this.allowed().audio) return 0;
    if (!this.levels) {
      const ctx = new AudioContext();
      const analyser = ctx.createAnalyser();
      ctx.createMediaStreamSource(new MediaStream([track])).connect(analyser);
      this.levels = { ctx, analyser };
    }
    const data = new Uint8Array(this.levels.analyser.fftSize);
    this.levels.analyser.getByteTimeDomainData(data);
    let peak = 0;
    for (const v of data) peak = Math.max(peak, Math.abs(v - 128) / 128);
    return peak;
  }
}
