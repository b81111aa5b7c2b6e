// Where a deployment's keys live in Redis. A room's keys, the indexes that name it (running rooms,
// active, empty, listed, ended), its webhook lanes and the lane queue are all in its **slice**: under
// one key prefix, which on a Redis Cluster carries a hash tag, so that every script on a room (a
// commit, a load, a purge, a delivery step) touches one slot. What is app- or deployment-wide (apps,
// keys, meta, uids) is under the global prefix. Readers of everything (the active rooms, a purge, a
// room list, the webhook lanes due) ask every slice and merge.
//
// On a single Redis (or Sentinel) there is one slice, whose prefix is the deployment's prefix: the
// keys are those of store format 1. On a Cluster there are SLICES slices, their hash tags chosen so
// that their slots are spread evenly over the slot range: the masters of a cluster whose slots are
// split evenly (redis-cli --cluster create) hold as many slices each, for 2, 3, 4, 6, 8, 12 or 24.
//
// DECISION: a room's slice follows from (app, roomUuid), so that the one-running-room-per-key check
// stays inside one script; its roomId is drawn until it names the same slice (sliceOfRoom), so that
// every later call finds the slice from the roomId alone.
import calculateSlot from 'cluster-key-slot';
import { newId } from '../../tokens/session.ts';

/** Slices of a Cluster deployment (fixed: a deployment's rooms stay in the slice they were made in). */
export const CLUSTER_SLICES = 24;
const SLOTS = 16_384;

export interface Slices {
  /** App- and deployment-wide keys: apps, access keys, meta, uids. */
  readonly global: string;
  /** Each slice's key prefix (one: the deployment's prefix, on a single Redis). */
  readonly prefixes: readonly string[];
  /** The slice prefix of a room, from its id. */
  ofRoom(roomId: string): string;
  /** The slice prefix of the running room of (app, roomUuid). */
  ofKey(appId: string, roomUuid: string): string;
  /** A fresh roomId whose slice is that of (app, roomUuid). */
  newRoomId(appId: string, roomUuid: string): string;
}

/** One slice: the keys of store format 1 (a single Redis, or Sentinel). */
export function singleSlice(prefix: string): Slices {
  return { global: prefix, prefixes: [prefix], ofRoom: () => prefix, ofKey: () => prefix, newRoomId: () => newId() };
}

/** CLUSTER_SLICES slices, hash-tagged, for a Redis Cluster. */
export function clusterSlices(prefix: string): Slices {
  if (/[{}]/.test(prefix)) throw new Error(`the Redis key prefix "${prefix}" holds a brace: on a Redis Cluster Convene puts its own hash tags in the keys`);
  const prefixes = Array.from({ length: CLUSTER_SLICES }, (_, i) => `${prefix}{${sliceTag(i)}}`);
  const global = `${prefix}{${sliceTag(-1)}}`;
  const ofRoom = (roomId: string) => prefixes[sliceOfRoom(roomId)]!;
  return {
    global,
    prefixes,
    ofRoom,
    ofKey: (appId, roomUuid) => prefixes[sliceOfKey(appId, roomUuid)]!,
    newRoomId(appId, roomUuid) {
      const want = sliceOfKey(appId, roomUuid);
      // One in CLUSTER_SLICES draws fits: 24 on average, a few microseconds.
      for (;;) {
        const id = newId();
        if (sliceOfRoom(id) === want) return id;
      }
    },
  };
}

/**
 * The hash tag of slice `i` (-1: the global keys): the first `c<i>.<n>` whose slot falls in the
 * slice's share of the slot range, so that the slices spread evenly over the masters.
 */
export function sliceTag(i: number): string {
  const share = i < 0 ? 0 : i;
  const from = Math.floor((share * SLOTS) / CLUSTER_SLICES);
  const to = Math.floor(((share + 1) * SLOTS) / CLUSTER_SLICES);
  const name = i < 0 ? 'g' : `c${i}`;
  for (let n = 0; ; n++) {
    const slot = calculateSlot(`${name}.${n}`);
    if (slot >= from && slot < to) return `${name}.${n}`;
  }
}

function sliceOfRoom(roomId: string): number {
  return fnv1a(roomId) % CLUSTER_SLICES;
}

function sliceOfKey(appId: string, roomUuid: string): number {
  return fnv1a(`${appId}\0${roomUuid}`) % CLUSTER_SLICES;
}

/** FNV-1a (32 bits): a fixed, cheap spread of ids over the slices (Math.random-free, stable across releases). */
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
