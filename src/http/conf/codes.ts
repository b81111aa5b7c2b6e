// The Agora API's error codes (spec §2.4), their texts for GET /v1/multi/language, and the map from
// the domain's rule codes onto them.
import type { RuleCode } from '../../domain/rules.ts';

export const Code = {
  ok: 0,
  invalid: 400,
  session: 401,
  forbidden: 403,
  notFound: 404,
  internal: 500,
  /** Retryable: the store (Redis in cluster mode) cannot be reached; nothing was done, or retry re-decides. */
  unavailable: 503,
  credentials: 1001,
  wrongPassword: 1002,
  roomFull: 1003,
  chatMuted: 1004,
  unmuteForbidden: 1005,
  busy: 1006,
  duplicateLogin: 1007,
  /** The room is locked: no new entries (members inside stay). */
  locked: 1008,
  /** Removed with a ban: this user may not enter this meeting again before the ban ends. */
  banned: 1009,
  /** The app runs as many meetings as the server allows (CONVENE_MAX_ROOMS_PER_APP). */
  tooManyRooms: 1010,
  /** Too many requests of this kind: `msg` says when to retry (also the Retry-After header). */
  rateLimited: 1011,
  /** Convene: the entry knocked at the room's lobby and waits for the host (data: roomId, userToken). */
  waiting: 1012,
} as const;

export type AgoraCode = (typeof Code)[keyof typeof Code];

/** An error the Agora API answers with `{code, msg, data: null}` (HTTP 200). */
export class AgoraError extends Error {
  constructor(
    readonly code: AgoraCode,
    message: string,
  ) {
    super(message);
    this.name = 'AgoraError';
  }
}

export const RULE_CODES: Record<RuleCode, AgoraCode> = {
  invalid: Code.invalid,
  forbidden: Code.forbidden,
  notFound: Code.notFound,
  wrongPassword: Code.wrongPassword,
  roomFull: Code.roomFull,
  chatMuted: Code.chatMuted,
  unmuteForbidden: Code.unmuteForbidden,
  busy: Code.busy,
  duplicateLogin: Code.duplicateLogin,
  ended: Code.session,
  notInRoom: Code.session,
  inactive: Code.notFound,
  locked: Code.locked,
  banned: Code.banned,
  tooManyRooms: Code.tooManyRooms,
};

export const LANGUAGES: Record<'en-us' | 'zh-cn', Record<string, string>> = {
  'en-us': {
    '0': 'Success',
    '400': 'Invalid argument',
    '401': 'Your session is no longer valid. Please enter the room again.',
    '403': 'You are not allowed to do this',
    '404': 'Not found',
    '500': 'Internal server error',
    '503': 'The service is briefly unavailable. Please try again.',
    '1001': 'Invalid customer credentials',
    '1002': 'Wrong room password',
    '1003': 'The room is full',
    '1004': 'Chat is muted',
    '1005': 'The host has muted everyone. Apply to the host to unmute.',
    '1006': 'Someone else is already sharing',
    '1007': 'This user is already in the room',
    '1008': 'The room is locked',
    '1009': 'You were removed from this meeting and cannot enter again yet',
    '1010': 'Too many meetings are running. Please try again later.',
    '1011': 'Too many requests. Please slow down and try again.',
    '1012': 'You are in the waiting room. The host will let you in: join again in a moment.',
  },
  'zh-cn': {
    '0': '成功',
    '400': '参数错误',
    '401': '会话已失效，请重新进入房间',
    '403': '没有权限执行此操作',
    '404': '未找到',
    '500': '服务器内部错误',
    '503': '服务暂时不可用，请稍后重试',
    '1001': '客户凭证无效',
    '1002': '房间密码错误',
    '1003': '房间人数已满',
    '1004': '聊天已被禁用',
    '1005': '主持人已全员静音，请向主持人申请发言',
    '1006': '已有其他成员正在共享',
    '1007': '该用户已在房间中',
    '1008': '房间已锁定',
    '1009': '你已被移出本次会议，暂时无法再次进入',
    '1010': '进行中的会议过多，请稍后再试',
    '1011': '请求过于频繁，请稍后再试',
    '1012': '你在等候室中，主持人将允许你进入：请稍后再次加入',
  },
};
