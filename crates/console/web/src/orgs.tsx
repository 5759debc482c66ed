// Organizations: the switcher in the header, and the organization page (create one, accept an
// invitation, list members, invite someone). Switching asks identity for tokens scoped to the
// chosen organization; everything below re-renders for the new organization.

import { useEffect, useState } from "preact/hooks";

import { allPages, requestId, switchOrganization, tenancy, type Session } from "./api";
import { Alert, useAction } from "./ui";
import { OrganizationRole } from "./gen/taskmesh/tenancy/v1/membership_pb";
import type { Organization } from "./gen/taskmesh/tenancy/v1/organization_pb";
import { announce, go, useMembers } from "./state";

/** The caller's organizations; `reload` after creating or joining one. */
export function useOrganizations(session: Session): [Organization[], () => void] {
  const [organizations, setOrganizations] = useState<Organization[]>([]);
  const [version, setVersion] = useState(0);
  const userId = session.user.id;
  // Reloaded when the scope changes too: a refresh that comes back unscoped (membership ended)
  // must not pick the organization just lost from a stale list.
  const scope = session.tokens.organizationId;
  useEffect(() => {
    let live = true;
    allPages(async (pageToken) => {
      const r = await tenancy.listOrganizations({ pageSize: 100, pageToken });
      return { items: r.organizations, nextPageToken: r.nextPageToken };
    })
      .then((all) => live && setOrganizations(all))
      .catch(() => undefined);
    return () => {
      live = false;
    };
  }, [userId, scope, version]);
  return [organizations, () => setVersion((v) => v + 1)];
}

/** Switches the session to `organizationId`. */
export async function switchTo(organizationId: string) {
  await switchOrganization(organizationId);
}

export function OrganizationSwitcher(props: { session: Session; organizations: Organization[] }) {
  const { session, organizations } = props;
  const { error, attempt } = useAction();
  return (
    <label class="switcher">
      <span class="visually-hidden">Organization</span>
      <select
        aria-label="Organization"
        value={session.tokens.organizationId}
        onChange={async (event) => {
          const id = event.currentTarget.value;
          if (!id) return go("org");
          await attempt(async () => {
            await switchTo(id);
            go("projects");
          });
        }}
      >
        {!session.tokens.organizationId && <option value="">Choose an organization</option>}
        {organizations.map((organization) => (
          <option key={organization.id} value={organization.id}>{organization.name}</option>
        ))}
      </select>
      <Alert error={error} inline />
    </label>
  );
}

export function OrganizationPage(props: { session: Session; reload: () => void }) {
  const { session, reload } = props;
  const organizationId = session.tokens.organizationId;
  const [name, setName] = useState("");
  const [slug, setSlug] = useState("");
  const [token, setToken] = useState("");
  const { error, attempt } = useAction();

  async function createOrganization(event: Event) {
    event.preventDefault();
    await attempt(async () => {
      const response = await tenancy.createOrganization({ name, slug, requestId: requestId() });
      await switchTo(response.organization!.id);
      reload();
      announce(`Created ${name}`);
      go("projects");
    });
  }

  async function accept(event: Event) {
    event.preventDefault();
    await attempt(async () => {
      const response = await tenancy.acceptInvitation({ token: token.trim() });
      await switchTo(response.organization!.id);
      reload();
      announce(`Joined ${response.organization!.name}`);
      go("projects");
    });
  }

  return (
    <section class="page" aria-labelledby="org-title">
      <h1 id="org-title">Organizations</h1>
      <Alert error={error} />
      <div class="cards">
        <form onSubmit={createOrganization} class="card">
          <h2>New organization</h2>
          <label>Name<input required value={name} onInput={(e) => setName(e.currentTarget.value)} /></label>
          <label>
            Address (slug)
            <input required pattern="[a-z0-9][a-z0-9\-]{1,62}" value={slug}
              onInput={(e) => setSlug(e.currentTarget.value)} />
          </label>
          <button type="submit">Create organization</button>
        </form>
        <form onSubmit={accept} class="card">
          <h2>Join with an invitation</h2>
          <label>Invitation token<input required value={token} onInput={(e) => setToken(e.currentTarget.value)} /></label>
          <button type="submit">Accept invitation</button>
        </form>
      </div>
      {organizationId && <Members organizationId={organizationId} />}
    </section>
  );
}

function Members(props: { organizationId: string }) {
  const { organizationId } = props;
  const [version, setVersion] = useState(0);
  const members = useMembers(`${organizationId}`);
  const [email, setEmail] = useState("");
  const [invited, setInvited] = useState("");
  const { error, attempt } = useAction();

  async function invite(event: Event) {
    event.preventDefault();
    await attempt(async () => {
      const response = await tenancy.createInvitation({
        organizationId,
        email,
        role: OrganizationRole.MEMBER,
        requestId: requestId(),
      });
      setInvited(response.token);
      setVersion(version + 1);
    });
  }

  return (
    <section aria-labelledby="members-title">
      <h2 id="members-title">Members</h2>
      <ul class="members">
        {[...members.values()].map((member) => (
          <li key={member.userId}>
            {member.displayName} <span class="muted">{member.email} · {OrganizationRole[member.role].toLowerCase()}</span>
          </li>
        ))}
      </ul>
      <form onSubmit={invite} class="inline">
        <label>Invite by email<input type="email" required value={email} onInput={(e) => setEmail(e.currentTarget.value)} /></label>
        <button type="submit">Invite</button>
      </form>
      <Alert error={error} />
      {invited && (
        <p class="notice">
          Invitation token (shown once; also mailed): <output class="token" aria-label="Invitation token">{invited}</output>
        </p>
      )}
    </section>
  );
}
