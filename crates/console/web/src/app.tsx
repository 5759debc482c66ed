// The console's shell: sign-in when signed out; otherwise a header (organization switcher,
// notifications bell, sign-out) above the routed page: organizations, projects, or a board.

import { useEffect, useState } from "preact/hooks";

import { allPages, projects, requestId, signOut, type Session } from "./api";
import { SignIn } from "./auth";
import { Bell } from "./bell";
import { BoardPage } from "./board";
import { Alert, useAction } from "./ui";
import type { Project } from "./gen/taskmesh/projects/v1/project_pb";
import { OrganizationPage, OrganizationSwitcher, switchTo, useOrganizations } from "./orgs";
import { announce, go, useAnnouncements, useRoute, useSession } from "./state";

export function App() {
  const session = useSession();
  const status = useAnnouncements();
  return (
    <>
      {session ? <SignedIn session={session} /> : <main><SignIn /></main>}
      <p class="status" role="status" aria-live="polite">{status}</p>
    </>
  );
}

function SignedIn(props: { session: Session }) {
  const { session } = props;
  const route = useRoute();
  const [organizations, reload] = useOrganizations(session);
  const organizationId = session.tokens.organizationId;

  // A session without an organization picks the first one it has, or asks to create or join one.
  useEffect(() => {
    if (organizationId || organizations.length === 0) return;
    void switchTo(organizations[0]!.id).catch(() => undefined);
  }, [organizationId, organizations]);

  const { error, attempt } = useAction();
  async function leave() {
    if (!(await attempt(signOut))) go("");
  }

  let page;
  if (!organizationId || route[0] === "org") {
    page = <OrganizationPage session={session} reload={reload} />;
  } else if (route[0] === "p" && route[1]) {
    page = <BoardPage key={`${organizationId}/${route[1]}`} session={session} projectId={route[1]} />;
  } else {
    page = <ProjectsPage key={organizationId} />;
  }

  return (
    <>
      <header class="top">
        <a href="#/projects" class="brand">taskmesh</a>
        <nav aria-label="Main">
          <a href="#/projects">Projects</a>
          <a href="#/org">Organization</a>
        </nav>
        <OrganizationSwitcher session={session} organizations={organizations} />
        {organizationId && <Bell key={organizationId} session={session} />}
        <span class="who">{session.user.displayName}</span>
        <button type="button" onClick={leave}>Sign out</button>
        <Alert error={error && `Not signed out: ${error}`} inline />
      </header>
      <main>{page}</main>
    </>
  );
}

function ProjectsPage() {
  const [list, setList] = useState<Project[] | null>(null);
  const [key, setKey] = useState("");
  const [name, setName] = useState("");
  const { error, attempt } = useAction();

  async function load() {
    await attempt(async () => {
      setList(await allPages(async (pageToken) => {
        const response = await projects.listProjects({ pageSize: 20, pageToken, orderBy: "name" });
        return { items: response.projects, nextPageToken: response.nextPageToken };
      }));
    });
  }
  useEffect(() => void load(), []);

  async function create(event: Event) {
    event.preventDefault();
    await attempt(async () => {
      const response = await projects.createProject({ project: { key: key.toUpperCase(), name }, requestId: requestId() });
      announce(`Created project ${response.project!.name}`);
      go(`p/${response.project!.id}`);
    });
  }

  return (
    <section class="page" aria-labelledby="projects-title">
      <h1 id="projects-title">Projects</h1>
      <Alert error={error} />
      {list === null ? <p>Loading…</p> : list.length === 0 ? <p>No projects yet.</p> : (
        <ul class="projects">
          {list.map((project) => (
            <li key={project.id}>
              <a href={`#/p/${project.id}`}><span class="key">{project.key}</span> {project.name}</a>
              {project.description && <p class="muted">{project.description}</p>}
            </li>
          ))}
        </ul>
      )}
      <form onSubmit={create} class="inline">
        <label>
          Key
          <input required pattern="[A-Za-z][A-Za-z0-9]{1,9}" size={8} value={key}
            onInput={(e) => setKey(e.currentTarget.value)} />
        </label>
        <label>Name<input required value={name} onInput={(e) => setName(e.currentTarget.value)} /></label>
        <button type="submit">Create project</button>
      </form>
    </section>
  );
}
