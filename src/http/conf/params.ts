// The path parameters of the client API's room routes (Agora's and Convene's own), checked alike.
import { Type } from 'typebox';

const Id = Type.String({ minLength: 1, maxLength: 128 });
export const RoomParams = Type.Object({ appId: Id, roomId: Id });
export const UserParams = Type.Object({ appId: Id, roomId: Id, userId: Id });
