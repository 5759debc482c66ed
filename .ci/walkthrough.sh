#!/usr/bin/env bash
# The README's first walkthrough, run verbatim with buf curl against a running taskmesh:
# sign up, create an organization, switch to it, invite a member (who signs up and accepts).
# Usage: walkthrough.sh http://HOST:PORT   (buf on PATH or $BUF)
set -euo pipefail
url="$1"
buf="${BUF:-buf}"
call() { "$buf" curl --protocol grpc --http2-prior-knowledge "$@"; }
# `field a.b` reads a JSON field from stdin (jq -r .a.b, without needing jq).
field() { python3 -c 'import json,sys; v=json.load(sys.stdin)
for k in sys.argv[1].split("."): v=v[k]
print(v)' "$1"; }
suffix="$(date +%s%N | tail -c 7)"

# 1. Ada signs up (tokens are not scoped to an organization yet).
TOKEN=$(call -d "{\"email\":\"ada-$suffix@example.com\",\"password\":\"correct-horse-7\",\"displayName\":\"Ada\"}" \
    "$url/taskmesh.identity.v1.IdentityService/SignUp" | field tokens.accessToken)

# 2. She creates an organization; she is its owner.
ORG=$(call -H "authorization: Bearer $TOKEN" -d "{\"name\":\"Acme\",\"slug\":\"acme-$suffix\"}" \
    "$url/taskmesh.tenancy.v1.TenancyService/CreateOrganization" | field organization.id)

# 3. She switches to it: new tokens carry the organization and her role.
ADMIN=$(call -H "authorization: Bearer $TOKEN" -d "{\"organizationId\":\"$ORG\"}" \
    "$url/taskmesh.identity.v1.IdentityService/SwitchOrganization" | field tokens.accessToken)

# 4. She invites Bob as a member; the invitation token is shown once.
INVITE=$(call -H "authorization: Bearer $ADMIN" \
    -d "{\"organizationId\":\"$ORG\",\"email\":\"bob-$suffix@example.com\",\"role\":\"ORGANIZATION_ROLE_MEMBER\"}" \
    "$url/taskmesh.tenancy.v1.TenancyService/CreateInvitation" | field token)

# 5. Bob signs up and accepts.
BOB=$(call -d "{\"email\":\"bob-$suffix@example.com\",\"password\":\"another-horse-8\",\"displayName\":\"Bob\"}" \
    "$url/taskmesh.identity.v1.IdentityService/SignUp" | field tokens.accessToken)
call -H "authorization: Bearer $BOB" -d "{\"token\":\"$INVITE\"}" \
    "$url/taskmesh.tenancy.v1.TenancyService/AcceptInvitation" | field membership.role

# 6. Ada lists the members.
call -H "authorization: Bearer $ADMIN" -d "{\"organizationId\":\"$ORG\"}" \
    "$url/taskmesh.tenancy.v1.TenancyService/ListMembers" | python3 -c 'import json,sys; print(sorted(m["email"] for m in json.load(sys.stdin)["members"]))'
