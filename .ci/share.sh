#!/usr/bin/env bash
# The README's documents and share-link walkthrough, run verbatim against a running taskmesh:
# a document uploaded and downloaded by its signed URL, a task shared with a password and
# three visits, and curl on /l/{slug}: the form, a wrong password, the task, the fourth
# visit refused. Usage: share.sh http://HOST:PORT   (buf on PATH or $BUF; curl)
set -euo pipefail
url="$1"
buf="${BUF:-buf}"
call() { "$buf" curl --protocol grpc --http2-prior-knowledge "$@"; }
field() { python3 -c 'import json,sys; v=json.load(sys.stdin)
for k in sys.argv[1].split("."): v=v[int(k)] if k.isdigit() else v[k]
print(v)' "$1"; }
suffix="$(date +%s%N | tail -c 7)"

TOKEN=$(call -d "{\"email\":\"ada-s$suffix@example.com\",\"password\":\"correct-horse-7\",\"displayName\":\"Ada\"}" \
    "$url/taskmesh.identity.v1.IdentityService/SignUp" | field tokens.accessToken)
ORG=$(call -H "authorization: Bearer $TOKEN" -d "{\"name\":\"Acme\",\"slug\":\"share-$suffix\"}" \
    "$url/taskmesh.tenancy.v1.TenancyService/CreateOrganization" | field organization.id)
ADMIN=$(call -H "authorization: Bearer $TOKEN" -d "{\"organizationId\":\"$ORG\"}" \
    "$url/taskmesh.identity.v1.IdentityService/SwitchOrganization" | field tokens.accessToken)
auth=(-H "authorization: Bearer $ADMIN")
PROJECT=$(call "${auth[@]}" -d '{"project":{"key":"DOC","name":"Docs"}}' \
    "$url/taskmesh.projects.v1.ProjectService/CreateProject" | field project.id)
TASK=$(call "${auth[@]}" -d "{\"task\":{\"projectId\":\"$PROJECT\",\"title\":\"Review the spec\"}}" \
    "$url/taskmesh.projects.v1.TaskService/CreateTask" | field task.id)

# 1. A document attached to the task (content is base64 in JSON), then a download URL a
#    browser can follow without credentials for five minutes.
DOC=$(call "${auth[@]}" -d "{\"title\":\"Spec\",\"fileName\":\"spec.md\",\"contentType\":\"text/markdown\",\"content\":\"$(printf '# Spec\n' | base64)\",\"projectId\":\"$PROJECT\",\"taskId\":\"$TASK\"}" \
    "$url/taskmesh.documents.v1.DocumentService/CreateDocument" | field document.id)
DOWNLOAD=$(call "${auth[@]}" -d "{\"documentId\":\"$DOC\"}" \
    "$url/taskmesh.documents.v1.DocumentService/CreateDownloadUrl" | field url)
curl -sS -D - "$DOWNLOAD"

# 2. Share the task: a password, three visits, a note for visitors.
SLUG=$(call "${auth[@]}" -d "{\"link\":{\"taskId\":\"$TASK\",\"password\":\"open sesame\",\"maxVisits\":3,\"note\":\"For Friday\"}}" \
    "$url/taskmesh.links.v1.LinkService/CreateLink" | field link.slug)

# 3. The page: a password form (401), a wrong password (403), the task (200) three times,
#    then 404; JSON with `accept: application/json`.
curl -s -o /dev/null -w '%{http_code}\n' "$url/l/$SLUG"
curl -s -o /dev/null -w '%{http_code}\n' --data-urlencode 'password=guess' "$url/l/$SLUG"
curl -s --data-urlencode 'password=open sesame' "$url/l/$SLUG" | grep -o 'Review the spec'
curl -s --data-urlencode 'password=open sesame' -H 'accept: application/json' "$url/l/$SLUG"; echo
curl -s -o /dev/null -w '%{http_code}\n' --data-urlencode 'password=open sesame' "$url/l/$SLUG"
curl -s -o /dev/null -w '%{http_code}\n' --data-urlencode 'password=open sesame' "$url/l/$SLUG"

# 4. Who visited: three visits, addresses anonymized.
LINK=$(call "${auth[@]}" -d "{\"filter\":\"task_id = \\\"$TASK\\\"\"}" \
    "$url/taskmesh.links.v1.LinkService/ListLinks" | field links.0.id)
call "${auth[@]}" -d "{\"linkId\":\"$LINK\"}" "$url/taskmesh.links.v1.LinkService/ListLinkVisits" \
    | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["visits"]), "visits")'
