// Sign in and sign up. Passwords go straight to IdentityService and are never kept; the
// returned tokens are held in memory by api.ts.

import { useState } from "preact/hooks";

import { identity, requestId, signedIn } from "./api";
import { Alert, useAction } from "./ui";

export function SignIn() {
  const [mode, setMode] = useState<"in" | "up">("in");
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [displayName, setDisplayName] = useState("");
  const { error, attempt, reset } = useAction();
  const [busy, setBusy] = useState(false);

  async function submit(event: Event) {
    event.preventDefault();
    setBusy(true);
    await attempt(async () => {
      if (mode === "up") {
        const response = await identity.signUp({ email, password, displayName, requestId: requestId() });
        if (response.user && response.tokens) signedIn(response.user, response.tokens);
      } else {
        const response = await identity.login({ email, password });
        if (response.user && response.tokens) signedIn(response.user, response.tokens);
      }
    });
    setBusy(false);
  }

  const title = mode === "in" ? "Sign in" : "Create an account";
  return (
    <section class="auth" aria-labelledby="auth-title">
      <h1 id="auth-title">{title}</h1>
      <form onSubmit={submit}>
        <label>
          Email
          <input type="email" autocomplete="username" required value={email}
            onInput={(e) => setEmail(e.currentTarget.value)} />
        </label>
        {mode === "up" && (
          <label>
            Display name
            <input required maxLength={100} value={displayName}
              onInput={(e) => setDisplayName(e.currentTarget.value)} />
          </label>
        )}
        <label>
          Password
          <input type="password" required minLength={mode === "up" ? 10 : 1}
            autocomplete={mode === "up" ? "new-password" : "current-password"} value={password}
            onInput={(e) => setPassword(e.currentTarget.value)} />
        </label>
        <Alert error={error} />
        <button type="submit" disabled={busy}>{title}</button>
      </form>
      <p>
        {mode === "in" ? "New here? " : "Have an account? "}
        <button type="button" class="link" onClick={() => { setMode(mode === "in" ? "up" : "in"); reset(); }}>
          {mode === "in" ? "Create an account" : "Sign in instead"}
        </button>
      </p>
    </section>
  );
}
