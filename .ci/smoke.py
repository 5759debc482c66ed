#!/usr/bin/env python3
"""A client that is not Rust: Python grpcio, learning the API through server reflection.

Usage: smoke.py HOST:PORT

Lists the services the server reflects (grpc.reflection.v1alpha, which grpcio-reflection
speaks), calls grpc.health.v1.Health/Check, then walks the first steps of a real user with
request and response classes built at run time from the reflected descriptors, exactly as a
generic tool would: sign up, create an organization, switch to it, invite a member, and
check that an error carries its google.rpc.ErrorInfo reason.
"""

import os
import sys

import grpc
from google.protobuf import descriptor_pool, message_factory
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)


class Reflected:
    """Calls any unary method by name, with messages built from reflected descriptors."""

    def __init__(self, channel, pool):
        self.channel = channel
        self.pool = pool

    def call(self, service, method_name, token=None, **fields):
        method = self.pool.FindServiceByName(service).FindMethodByName(method_name)
        request_class = message_factory.GetMessageClass(method.input_type)
        response_class = message_factory.GetMessageClass(method.output_type)
        stub = self.channel.unary_unary(
            f"/{service}/{method_name}",
            request_serializer=request_class.SerializeToString,
            response_deserializer=response_class.FromString,
        )
        metadata = [("authorization", f"Bearer {token}")] if token else None
        return stub(request_class(**fields), timeout=20, metadata=metadata)


def error_reason(error):
    """The google.rpc.ErrorInfo reason inside grpc-status-details-bin."""
    from google.protobuf import any_pb2  # noqa: F401  (registers Any)
    from google.rpc import error_details_pb2, status_pb2

    for key, value in error.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            status = status_pb2.Status.FromString(value)
            for detail in status.details:
                if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                    info = error_details_pb2.ErrorInfo()
                    detail.Unpack(info)
                    return info.reason
    return None


def journey(channel, pool) -> int:
    api = Reflected(channel, pool)
    identity = "taskmesh.identity.v1.IdentityService"
    tenancy = "taskmesh.tenancy.v1.TenancyService"
    suffix = os.urandom(4).hex()
    ada = api.call(identity, "SignUp", email=f"ada-{suffix}@example.com", password="correct-horse-7", display_name="Ada")
    print("signed up:", ada.user.email)
    org = api.call(tenancy, "CreateOrganization", ada.tokens.access_token, name="Acme", slug=f"acme-{suffix}")
    print("organization:", org.organization.slug)
    switched = api.call(identity, "SwitchOrganization", ada.tokens.access_token, organization_id=org.organization.id)
    scoped = switched.tokens.access_token
    invitation = api.call(
        tenancy, "CreateInvitation", scoped,
        organization_id=org.organization.id, email=f"bob-{suffix}@example.com", role=3,
    )
    print("invited:", invitation.invitation.email, "token issued:", invitation.token.startswith("tminv_"))
    project = api.call(
        "taskmesh.projects.v1.ProjectService", "CreateProject", scoped, project={"key": "PY", "name": "Python"},
    )
    task = api.call(
        "taskmesh.projects.v1.TaskService", "CreateTask", scoped,
        task={"project_id": project.project.id, "title": "From Python"},
    )
    print("task:", task.task.key)
    if task.task.key != "PY-1":
        return 1
    try:
        api.call(tenancy, "CreateOrganization", ada.tokens.access_token, name="Clash", slug=f"acme-{suffix}")
        print("duplicate slug accepted", file=sys.stderr)
        return 1
    except grpc.RpcError as error:
        reason = error_reason(error)
        print("duplicate slug:", error.code().name, reason)
        if error.code() != grpc.StatusCode.ALREADY_EXISTS or reason != "SLUG_TAKEN":
            return 1
    return 0


def main(address: str) -> int:
    with grpc.insecure_channel(address) as channel:
        grpc.channel_ready_future(channel).result(timeout=10)
        database = ProtoReflectionDescriptorDatabase(channel)
        services = sorted(database.get_services())
        print("reflected services:", ", ".join(services))
        if "grpc.health.v1.Health" not in services:
            print("health service missing from reflection", file=sys.stderr)
            return 1

        pool = descriptor_pool.DescriptorPool(database)
        method = pool.FindServiceByName("grpc.health.v1.Health").FindMethodByName("Check")
        request_class = message_factory.GetMessageClass(method.input_type)
        response_class = message_factory.GetMessageClass(method.output_type)
        check = channel.unary_unary(
            "/grpc.health.v1.Health/Check",
            request_serializer=request_class.SerializeToString,
            response_deserializer=response_class.FromString,
        )
        response = check(request_class(service=""), timeout=10)
        status = method.output_type.fields_by_name["status"].enum_type.values_by_number[
            response.status
        ].name
        print("health:", status)
        if status != "SERVING":
            return 1

        # An unknown method must be a clean UNIMPLEMENTED status, not a broken connection.
        unknown = channel.unary_unary("/taskmesh.nothing.v1.Nothing/Nothing")
        try:
            unknown(b"", timeout=10)
            print("unknown method answered OK", file=sys.stderr)
            return 1
        except grpc.RpcError as error:
            print("unknown method:", error.code().name)
            if error.code() != grpc.StatusCode.UNIMPLEMENTED:
                return 1
        return journey(channel, pool)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
