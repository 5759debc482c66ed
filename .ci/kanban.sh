#!/usr/bin/env bash
# The README's Kanban walkthrough, run verbatim with buf curl against a running taskmesh:
# a project with its default board, a label, tasks, a move watched live, a comment, a
# filtered list, and undo. Usage: kanban.sh http://HOST:PORT   (buf on PATH or $BUF)
set -euo pipefail
url="$1"
buf="${BUF:-buf}"
call() { "$buf" curl --protocol grpc --http2-prior-knowledge "$@"; }
field() { python3 -c 'import json,sys; v=json.load(sys.stdin)
for k in sys.argv[1].split("."): v=v[int(k)] if k.isdigit() else v[k]
print(v)' "$1"; }
suffix="$(date +%s%N | tail -c 7)"
watch_log="$(mktemp)"
watcher=""
# buf runs as a wrapper and a child process: the watcher gets a process group of its own.
stop_watcher() { [ -z "$watcher" ] || kill -- "-$watcher" 2>/dev/null || true; }
trap 'stop_watcher; rm -f "$watch_log"' EXIT

# Ada signs up, creates an organization and switches to it (as in the first walkthrough).
TOKEN=$(call -d "{\"email\":\"ada-k$suffix@example.com\",\"password\":\"correct-horse-7\",\"displayName\":\"Ada\"}" \
    "$url/taskmesh.identity.v1.IdentityService/SignUp" | field tokens.accessToken)
ORG=$(call -H "authorization: Bearer $TOKEN" -d "{\"name\":\"Acme\",\"slug\":\"kanban-$suffix\"}" \
    "$url/taskmesh.tenancy.v1.TenancyService/CreateOrganization" | field organization.id)
ADMIN=$(call -H "authorization: Bearer $TOKEN" -d "{\"organizationId\":\"$ORG\"}" \
    "$url/taskmesh.identity.v1.IdentityService/SwitchOrganization" | field tokens.accessToken)
auth=(-H "authorization: Bearer $ADMIN")

# 1. A project; it comes with a board whose columns are To Do, In Progress and Done.
PROJECT=$(call "${auth[@]}" -d '{"project":{"key":"WEB","name":"Website"},"requestId":"web-1"}' \
    "$url/taskmesh.projects.v1.ProjectService/CreateProject" | field project.id)
BOARD=$(call "${auth[@]}" -d "{\"id\":\"$PROJECT\"}" \
    "$url/taskmesh.projects.v1.ProjectService/GetProject" | field project.defaultBoardId)
DOING=$(call "${auth[@]}" -d "{\"id\":\"$BOARD\"}" \
    "$url/taskmesh.projects.v1.BoardService/GetBoard" | field board.columns.1.id)

# 2. Watch the board live (a server stream: a snapshot, then every change).
setsid "$buf" curl --protocol grpc --http2-prior-knowledge "${auth[@]}" -d "{\"boardId\":\"$BOARD\"}" \
    "$url/taskmesh.projects.v1.BoardService/WatchBoard" >"$watch_log" 2>/dev/null &
watcher=$!

# 3. A label and two tasks; the first is a bug.
BUG=$(call "${auth[@]}" -d "{\"label\":{\"projectId\":\"$PROJECT\",\"name\":\"bug\",\"color\":\"#d73a4a\"}}" \
    "$url/taskmesh.projects.v1.ProjectService/CreateLabel" | field label.id)
TASK=$(call "${auth[@]}" -d "{\"task\":{\"projectId\":\"$PROJECT\",\"title\":\"Fix login\",\"labelIds\":[\"$BUG\"],\"priority\":\"TASK_PRIORITY_HIGH\"}}" \
    "$url/taskmesh.projects.v1.TaskService/CreateTask" | field task.id)
call "${auth[@]}" -d "{\"task\":{\"projectId\":\"$PROJECT\",\"title\":\"Polish footer\"}}" \
    "$url/taskmesh.projects.v1.TaskService/CreateTask" | field task.key

# 4. Comment on WEB-1, and start work on it.
call "${auth[@]}" -d "{\"comment\":{\"taskId\":\"$TASK\",\"body\":\"On it.\"}}" \
    "$url/taskmesh.projects.v1.TaskService/CreateComment" | field comment.id
call "${auth[@]}" -d "{\"id\":\"$TASK\",\"columnId\":\"$DOING\"}" \
    "$url/taskmesh.projects.v1.TaskService/MoveTask" | field task.statusCategory

# 5. Bugs in progress, by priority.
call "${auth[@]}" -d "{\"projectId\":\"$PROJECT\",\"filter\":\"label = \\\"bug\\\" AND status_category = \\\"IN_PROGRESS\\\"\",\"orderBy\":\"priority desc\"}" \
    "$url/taskmesh.projects.v1.TaskService/ListTasks" | field tasks.0.key

# 6. What would undo do? Then undo the move.
call "${auth[@]}" -d "{\"projectId\":\"$PROJECT\"}" \
    "$url/taskmesh.projects.v1.TaskService/GetUndoState" | field nextUndo.summary
call "${auth[@]}" -d "{\"projectId\":\"$PROJECT\",\"requestId\":\"undo-1\"}" \
    "$url/taskmesh.projects.v1.TaskService/UndoLastAction" | field task.statusCategory

# The watcher saw the tasks arrive and move (it runs until cancelled).
for _ in $(seq 1 50); do
    [ "$(grep -c '"taskMoved"' "$watch_log")" -ge 2 ] && break
    sleep 0.1
done
stop_watcher
grep -c '"taskCreated"' "$watch_log"
grep -c '"taskMoved"' "$watch_log"
