// The Lua scripts of the Redis store. A script runs atomically inside Redis, so each store call is
// one round trip and a commit is never half-written. Scripts check everything before their first
// write: Redis does not roll a script back when it fails halfway.
//
// Reading a room whose id comes from an index (findRunning, listRooms) touches keys not passed in
// KEYS. That is fine on a single Redis (or Sentinel); on Redis Cluster the prefix would need a hash
// tag (e.g. `{convene}:`) so that every key lives in one slot.
//
// A room's hash names the store format it was written in (`f`, see format.ts): a room this release
// cannot read is refused as CONVENE_FORMAT, before anything of it is read or written.
import { OLDEST_READ_FORMAT, STORE_FORMAT } from './format.ts';

/** Raises CONVENE_FORMAT <marker> for a room hash's format this release cannot read (nil: format 1). */
const CHECK_FORMAT = `
local function checkFormat(f)
  if not f then return end
  local n = tonumber(f)
  if not n or n ~= math.floor(n) or n < ${OLDEST_READ_FORMAT} or n > ${STORE_FORMAT} then error('CONVENE_FORMAT ' .. f) end
end
`;

/** How many versions of member changes a room remembers, so that a reader a few versions behind loads only what changed. */
export const CHANGE_LOG_LENGTH = 64;

/** Above this many changed members a reader reloads them all (and stays clear of Lua's unpack limit). */
const MAX_DELTA_MEMBERS = 1000;

/**
 * loadRoom(roomKey, membersKey, changesKey, cachedVersion) → false (no room); {v, cv} (the caller's
 * cached version is current); or {v, cv, data, count, mode, pairs}: mode 'F' with every member as
 * index/JSON pairs, or 'D' with only the members written after `cachedVersion`. `cv` is the newest
 * version known to be on the replicas ('0' when none is; see confirmed.ts).
 */
const LOAD_ROOM = `${CHECK_FORMAT}
local function loadRoom(roomKey, membersKey, changesKey, cachedVersion)
  local h = redis.call('HMGET', roomKey, 'v', 'd', 'n', 'f', 'cv')
  local v, cv = h[1], h[5] or '0'
  if not v then return false end
  checkFormat(h[4])
  if v == cachedVersion then return {v, cv} end
  local c = tonumber(cachedVersion)
  local gap = tonumber(v) - c
  if c > 0 and gap > 0 and gap <= ${CHANGE_LOG_LENGTH} then
    local entries = redis.call('LRANGE', changesKey, -gap, -1)
    -- Usable only if the log holds every version from the cached one to the stored one.
    local usable, expect, fields, seen = #entries == gap, c + 1, {}, {}
    for _, e in ipairs(entries) do
      if not usable then break end
      local sep = string.find(e, ':', 1, true)
      local list = string.sub(e, sep + 1)
      if tonumber(string.sub(e, 1, sep - 1)) ~= expect or list == '*' then
        usable = false
      else
        expect = expect + 1
        for i in string.gmatch(list, '%d+') do
          if not seen[i] then
            seen[i] = true
            fields[#fields + 1] = i
          end
        end
      end
    end
    if usable and #fields <= ${MAX_DELTA_MEMBERS} then
      local changed = {}
      if #fields > 0 then
        local values = redis.call('HMGET', membersKey, unpack(fields))
        for k = 1, #fields do
          changed[2 * k - 1] = fields[k]
          changed[2 * k] = values[k]
        end
      end
      return {v, cv, h[2], h[3], 'D', changed}
    end
  end
  return {v, cv, h[2], h[3], 'F', redis.call('HGETALL', membersKey)}
end
`;

/** KEYS: room, members, changes. ARGV: cachedVersion ('0': none). */
export const LOAD = `${LOAD_ROOM}
return loadRoom(KEYS[1], KEYS[2], KEYS[3], ARGV[1])
`;

/**
 * KEYS: the app's running-room index. ARGV: key prefix, roomUuid, the id the caller guesses and its
 * cached version. → false, or {roomId, loadRoom's answer}.
 */
export const FIND_RUNNING = `${LOAD_ROOM}
local id = redis.call('HGET', KEYS[1], ARGV[2])
if not id then return false end
local cached = '0'
if id == ARGV[3] then cached = ARGV[4] end
local p = ARGV[1]
local room = loadRoom(p .. 'room:' .. id, p .. 'members:' .. id, p .. 'changes:' .. id, cached)
if not room then return false end
return {id, room}
`;

/** Where a webhook row sits in its lane: (seq, idx) as one score, exact below 2^53. */
export const LANE_SCORE_IDX = 1_048_576;

/**
 * KEYS: 1 room, 2 members, 3 events, 4 changes, 5 the app's running index, 6 active set, 7 empty
 * set, 8 the app's listed rooms, 9 the app's listed active rooms, 10 ended rooms by end time,
 * 11 apps' webhook stamps, 12 webhook lanes by due time.
 * ARGV: 1 roomId, 2 expectedVersion, 3 version, 4 seq, 5 appId, 6 roomUuid, 7 ended (0/1),
 * 8 online, 9 emptySince ('' for none), 10 startTime, 11 room JSON without members, 12 member
 * count, 13 event retention, 14 all members sent (0/1), 15 number of member pairs, 16 endedAt
 * ('' while running), 17 check the webhook stamp (0/1), 18 the stamp, 19 the webhook rows as one
 * JSON array of [lane, id, score, row JSON] ('' for none: one argument however many there are),
 * 20 key prefix, 21 the tag of the room's metadata ('' for none), 22 the audit entries as one JSON
 * array of their JSON texts ('' for none), then the (index, JSON) member pairs, then (seq, JSON)
 * event pairs.
 * → 'ok' | 'conflict' | 'duplicateRoom' | 'webhooksChanged'
 */
export const COMMIT = `${CHECK_FORMAT}
local head = redis.call('HMGET', KEYS[1], 'v', 'f', 'mt')
local stored = head[1]
checkFormat(head[2])
local expected = ARGV[2]
if expected == '0' then
  if stored or redis.call('HEXISTS', KEYS[5], ARGV[6]) == 1 then return 'duplicateRoom' end
elseif stored ~= expected then
  return 'conflict'
end
-- Rows made for other endpoints than the app has now are not written (the caller makes them again).
if ARGV[17] == '1' and (redis.call('HGET', KEYS[11], ARGV[5]) or '') ~= ARGV[18] then return 'webhooksChanged' end
local id, uuid, ended, online, p = ARGV[1], ARGV[6], ARGV[7] == '1', tonumber(ARGV[8]), ARGV[20]
local count = tonumber(ARGV[12])
local previousCount = tonumber(redis.call('HGET', KEYS[1], 'n') or '0')

redis.call('HSET', KEYS[1], 'v', ARGV[3], 's', ARGV[4], 'appId', ARGV[5], 'roomUuid', uuid, 'ended', ARGV[7],
  'online', ARGV[8], 'emptySince', ARGV[9], 'startTime', ARGV[10], 'd', ARGV[11], 'n', ARGV[12], 'f', '${STORE_FORMAT}')

local memberPairs = tonumber(ARGV[15])
local written = {}
for i = 0, memberPairs - 1 do
  local index = ARGV[23 + 2 * i]
  redis.call('HSET', KEYS[2], index, ARGV[24 + 2 * i])
  written[#written + 1] = index
end
for i = count, previousCount - 1 do redis.call('HDEL', KEYS[2], tostring(i)) end
-- '*': every member was sent (the writer had no base), so a reader must reload them all.
local changed = table.concat(written, ',')
if ARGV[14] == '1' then changed = '*' end
redis.call('RPUSH', KEYS[4], ARGV[3] .. ':' .. changed)
redis.call('LTRIM', KEYS[4], -${CHANGE_LOG_LENGTH}, -1)

-- Webhook rows: each lane (app/endpoint/room) keeps its ids in (seq, idx) order and their rows;
-- a new lane is due at once, one already waiting (a retry time, a lease) keeps its time.
if ARGV[19] ~= '' then
  local opened = {}
  for _, r in ipairs(cjson.decode(ARGV[19])) do
    local lane = r[1]
    redis.call('ZADD', p .. 'wh:q:' .. lane, r[3], r[2])
    redis.call('HSET', p .. 'wh:r:' .. lane, r[2], r[4])
    if not opened[lane] then
      opened[lane] = true
      redis.call('ZADD', KEYS[12], 'NX', 0, lane)
      redis.call('SADD', p .. 'wh:rooms:' .. id, lane)
    end
  end
end

for i = 23 + 2 * memberPairs, #ARGV, 2 do
  redis.call('ZADD', KEYS[3], ARGV[i], ARGV[i + 1])
end
-- Keep the newest events only: a resume from before them gets a snapshot.
redis.call('ZREMRANGEBYRANK', KEYS[3], 0, -tonumber(ARGV[13]) - 1)
if ARGV[22] ~= '' then
  for _, e in ipairs(cjson.decode(ARGV[22])) do redis.call('RPUSH', p .. 'audit:' .. id, e) end
end

local listed = uuid .. '\\0' .. id
-- The app's running rooms by metadata: 'tag\\0roomUuid\\0roomId' at score 0 (see RoomIndexes.list).
local tag, oldTag = ARGV[21], head[3] or ''
if ended then tag = '' end
if tag ~= oldTag then
  if oldTag ~= '' then redis.call('ZREM', p .. 'tagged:' .. ARGV[5], oldTag .. '\\0' .. listed) end
  if tag ~= '' then
    redis.call('ZADD', p .. 'tagged:' .. ARGV[5], 0, tag .. '\\0' .. listed)
    redis.call('HSET', KEYS[1], 'mt', tag)
  else
    redis.call('HDEL', KEYS[1], 'mt')
  end
end
if ended then
  if redis.call('HGET', KEYS[5], uuid) == id then redis.call('HDEL', KEYS[5], uuid) end
  redis.call('SREM', KEYS[6], id)
  redis.call('ZREM', KEYS[7], id)
  redis.call('ZREM', KEYS[8], listed)
  redis.call('ZREM', KEYS[9], listed)
  -- Found by the purge once the retention has passed (see PURGE_ENDED).
  redis.call('ZADD', KEYS[10], ARGV[16], id)
  return 'ok'
end
if expected == '0' then redis.call('HSET', KEYS[5], uuid, id) end
redis.call('ZADD', KEYS[8], 0, listed)
if online > 0 then
  redis.call('SADD', KEYS[6], id)
  redis.call('ZADD', KEYS[9], 0, listed)
else
  redis.call('SREM', KEYS[6], id)
  redis.call('ZREM', KEYS[9], listed)
end
if ARGV[9] ~= '' then
  redis.call('ZADD', KEYS[7], ARGV[9], id)
else
  redis.call('ZREM', KEYS[7], id)
end
return 'ok'
`;

/**
 * KEYS: ended rooms by end time. ARGV: key prefix, endedBefore, limit. Deletes up to `limit` rooms
 * that ended at or before `endedBefore` with all their keys and index entries (the commit that
 * ended a room already left the running ones; removed here too, so a purge never leaves a dangling
 * id whatever wrote the room). UNLINK frees a large event log off Redis's main thread.
 * → the ids of the rooms deleted.
 */
export const PURGE_ENDED = `
local p = ARGV[1]
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[2], 'LIMIT', 0, ARGV[3])
local purged = {}
for _, id in ipairs(ids) do
  local roomKey = p .. 'room:' .. id
  local h = redis.call('HMGET', roomKey, 'ended', 'appId', 'roomUuid')
  -- Never a running room: a stale entry (there should be none) is only dropped from the index.
  if h[1] == '1' then
    local appId, uuid = h[2], h[3]
    local listed = uuid .. '\\0' .. id
    if redis.call('HGET', p .. 'running:' .. appId, uuid) == id then redis.call('HDEL', p .. 'running:' .. appId, uuid) end
    redis.call('SREM', p .. 'active', id)
    redis.call('ZREM', p .. 'empty', id)
    redis.call('ZREM', p .. 'listed:' .. appId, listed)
    redis.call('ZREM', p .. 'listed-active:' .. appId, listed)
    -- Its webhook lanes, pending and dead.
    local lanesKey = p .. 'wh:rooms:' .. id
    for _, lane in ipairs(redis.call('SMEMBERS', lanesKey)) do
      redis.call('UNLINK', p .. 'wh:q:' .. lane, p .. 'wh:r:' .. lane, p .. 'wh:d:' .. lane)
      redis.call('ZREM', p .. 'wh:due', lane)
      redis.call('HDEL', p .. 'wh:lease', lane)
      redis.call('SREM', p .. 'wh:dead:' .. appId, lane)
    end
    redis.call('UNLINK', roomKey, p .. 'members:' .. id, p .. 'events:' .. id, p .. 'changes:' .. id, lanesKey, p .. 'audit:' .. id)
    purged[#purged + 1] = id
  end
  redis.call('ZREM', KEYS[1], id)
end
return purged
`;

/**
 * Indexes the ended rooms of a database written before the ended index existed. KEYS: ended rooms
 * by end time. ARGV: the room keys' common start (`<prefix>room:`), now (the end assumed for a room
 * without one: its retention counts from now), then room keys (from a SCAN).
 */
export const INDEX_ENDED = `
local start = #ARGV[1] + 1
for i = 3, #ARGV do
  local h = redis.call('HMGET', ARGV[i], 'ended', 'd')
  if h[1] == '1' then
    local endedAt = cjson.decode(h[2]).endedAt
    if type(endedAt) ~= 'number' then endedAt = ARGV[2] end
    redis.call('ZADD', KEYS[1], 'NX', endedAt, string.sub(ARGV[i], start))
  end
end
`;

/**
 * KEYS: events, room. ARGV: afterSeq, limit. → {oldestSeq or '0', [event JSON], the newest seq known
 * to be on the replicas ('0' when none is; see confirmed.ts)}
 */
export const EVENTS_SINCE = `
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local page = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[1], '+inf', 'LIMIT', 0, ARGV[2])
return {first[2] or '0', page, redis.call('HGET', KEYS[2], 'cs') or '0'}
`;

/**
 * KEYS: the app's listed rooms (all running, or those with someone present), members
 * 'roomUuid\\0roomId' at score 0 so that they sort by roomUuid byte by byte, as SQLite's ORDER BY.
 * ARGV: key prefix, roomUuid prefix, offset, limit. → {total, roomId, roomUuid, online, startTime, ...}
 */
export const LIST_ROOMS = `
local min, max = '-', '+'
if ARGV[2] ~= '' then
  -- Byte 255 never occurs in UTF-8, so it sorts after every key that starts with the prefix.
  min = '[' .. ARGV[2]
  max = '(' .. ARGV[2] .. '\\255'
end
local out = {redis.call('ZLEXCOUNT', KEYS[1], min, max)}
local page = redis.call('ZRANGEBYLEX', KEYS[1], min, max, 'LIMIT', ARGV[3], ARGV[4])
for _, m in ipairs(page) do
  -- The room id never holds a NUL: split at the last one.
  local sep = #m - string.find(string.reverse(m), '\\0', 1, true) + 1
  local id = string.sub(m, sep + 1)
  local h = redis.call('HMGET', ARGV[1] .. 'room:' .. id, 'online', 'startTime')
  out[#out + 1] = id
  out[#out + 1] = string.sub(m, 1, sep - 1)
  out[#out + 1] = h[1]
  out[#out + 1] = h[2]
end
return out
`;

/** KEYS: apps, apps' order, order counter, webhook stamps. ARGV: appId, JSON, stamp. An update keeps the app's place. */
export const PUT_APP = `
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if ARGV[3] == '' then redis.call('HDEL', KEYS[4], ARGV[1]) else redis.call('HSET', KEYS[4], ARGV[1], ARGV[3]) end
if not redis.call('ZSCORE', KEYS[2], ARGV[1]) then
  redis.call('ZADD', KEYS[2], redis.call('INCR', KEYS[3]), ARGV[1])
end
`;

/** KEYS: apps, apps' order, webhook stamps. ARGV: appId. → 1 if it existed. */
export const DELETE_APP = `
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
return redis.call('HDEL', KEYS[1], ARGV[1])
`;

/** KEYS: apps, apps' order. → app JSON in the order they were first stored. */
export const LIST_APPS = `
local out = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  local app = redis.call('HGET', KEYS[1], id)
  if app then out[#out + 1] = app end
end
return out
`;

/** KEYS: meta. ARGV: key, value. → the value stored (the given one if there was none). */
export const SET_META_IF_ABSENT = `
redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2])
return redis.call('HGET', KEYS[1], ARGV[1])
`;
