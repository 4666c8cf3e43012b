/** aevon.identity.v1.IdentityService: protobuf in, domain calls, protobuf out. No Prisma here. */
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import { consistencyFromProto } from "./consistency.js";
import type { Identity } from "../domain/identity/identity.js";
import type { User, UserStatus } from "../domain/identity/types.js";
import {
  CreateUserRequestSchema,
  CreateUserResponseSchema,
  DeleteUserRequestSchema,
  DeleteUserResponseSchema,
  IdentityService,
  LinkExternalIdentityRequestSchema,
  LinkExternalIdentityResponseSchema,
  ReactivateUserRequestSchema,
  ReactivateUserResponseSchema,
  SuspendUserRequestSchema,
  SuspendUserResponseSchema,
  UpdateUserRequestSchema,
  UpdateUserResponseSchema,
  UserStatus as PbUserStatus,
  type UserSchema,
} from "../gen/aevon/identity/v1/identity_pb.js";
import { idempotentCall } from "./idempotency.js";
import { unreachable } from "./validation.js";
import { ceilDate, ts } from "./time.js";

const STATUS_TO_PROTO: Record<UserStatus, PbUserStatus> = {
  ACTIVE: PbUserStatus.ACTIVE,
  SUSPENDED: PbUserStatus.SUSPENDED,
  DELETED: PbUserStatus.DELETED,
};

function statusFromProto(status: PbUserStatus): UserStatus | undefined {
  if (status === PbUserStatus.UNSPECIFIED) return undefined;
  const found = (Object.keys(STATUS_TO_PROTO) as UserStatus[]).find((k) => STATUS_TO_PROTO[k] === status);
  if (!found) return unreachable("status: enum.defined_only");
  return found;
}

export function userToProto(u: User): MessageInitShape<typeof UserSchema> {
  return {
    id: u.id,
    handle: u.handle ?? "",
    email: u.email ?? "",
    displayName: u.displayName,
    status: STATUS_TO_PROTO[u.status],
    version: u.version,
    createTime: ts(u.createdAt),
    updateTime: ts(u.updatedAt),
    externalIdentities: u.externalIdentities,
    defaultAccountId: u.defaultAccountId ?? "",
  };
}

const reply = (u: User) => ({ user: userToProto(u) });

export function identityServiceImpl(identity: Identity): ServiceImpl<typeof IdentityService> {
  return {
    async createUser(req, ctx) {
      const call = idempotentCall(ctx, "identity.CreateUser", CreateUserRequestSchema, req, CreateUserResponseSchema, reply);
      const external = req.externalIdentity && { provider: req.externalIdentity.provider, subject: req.externalIdentity.subject };
      return call.reply(
        await identity.createUser({ handle: req.handle, email: req.email, displayName: req.displayName, externalIdentity: external }, call.idem),
      );
    },
    async getUser(req) {
      const l = req.lookup;
      if (l.case === undefined) return unreachable("lookup: required");
      const lookup =
        l.case === "userId"
          ? { id: l.value }
          : l.case === "handle"
            ? { handle: l.value }
            : l.case === "email"
              ? { email: l.value }
              : { external: { provider: l.value.provider, subject: l.value.subject } };
      return reply(await identity.getUser(lookup, consistencyFromProto(req.consistency)));
    },
    async batchGetUsers(req) {
      return { users: (await identity.batchGetUsers(req.userIds, consistencyFromProto(req.consistency))).map(userToProto) };
    },
    async updateUser(req, ctx) {
      const call = idempotentCall(ctx, "identity.UpdateUser", UpdateUserRequestSchema, req, UpdateUserResponseSchema, reply);
      return call.reply(
        await identity.updateUser(
          {
            userId: req.userId,
            version: req.version,
            paths: req.updateMask?.paths ?? [],
            handle: req.handle,
            email: req.email,
            displayName: req.displayName,
          },
          call.idem,
        ),
      );
    },
    async suspendUser(req, ctx) {
      const call = idempotentCall(ctx, "identity.SuspendUser", SuspendUserRequestSchema, req, SuspendUserResponseSchema, reply);
      return call.reply(await identity.suspendUser(req.userId, req.reason, call.idem));
    },
    async reactivateUser(req, ctx) {
      const call = idempotentCall(ctx, "identity.ReactivateUser", ReactivateUserRequestSchema, req, ReactivateUserResponseSchema, reply);
      return call.reply(await identity.reactivateUser(req.userId, req.reason, call.idem));
    },
    async deleteUser(req, ctx) {
      const call = idempotentCall(ctx, "identity.DeleteUser", DeleteUserRequestSchema, req, DeleteUserResponseSchema, reply);
      return call.reply(await identity.deleteUser(req.userId, req.reason, call.idem));
    },
    async linkExternalIdentity(req, ctx) {
      const call = idempotentCall(ctx, "identity.LinkExternalIdentity", LinkExternalIdentityRequestSchema, req, LinkExternalIdentityResponseSchema, reply);
      if (!req.externalIdentity) return unreachable("external_identity: required");
      const { provider, subject } = req.externalIdentity;
      return call.reply(await identity.linkExternalIdentity(req.userId, { provider, subject }, call.idem));
    },
    async listUsers(req) {
      const page = await identity.listUsers(
        {
          status: statusFromProto(req.status),
          createdAfter: ceilDate(req.createdAfter),
          createdBefore: ceilDate(req.createdBefore),
          handlePrefix: req.handlePrefix || undefined,
        },
        req.pageSize,
        req.pageToken,
      );
      return { users: page.items.map(userToProto), nextPageToken: page.next };
    },
  };
}

export { IdentityService };
