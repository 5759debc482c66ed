#!/usr/bin/env python3
"""A client that is not Rust: Python grpcio, learning the API through server reflection.

Usage: smoke.py HOST:PORT

Lists the services the server reflects (grpc.reflection.v1alpha, which grpcio-reflection
speaks), then calls grpc.health.v1.Health/Check with request and response classes built at
run time from the reflected descriptors, exactly as a generic tool would.
"""

import sys

import grpc
from google.protobuf import descriptor_pool, message_factory
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)


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
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
