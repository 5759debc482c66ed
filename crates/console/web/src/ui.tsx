// Shared pieces of every form: run an action and keep the sentence for its failure, and show
// that sentence where assistive technology announces it.

import { useState } from "preact/hooks";

import { describe } from "./errors";

/** One form's actions: `error` is the last failure in words ("" after a success). */
export interface Action {
  error: string;
  /** Runs `action`; answers its failure in words, or "" when it succeeded. */
  attempt: (action: () => Promise<unknown>) => Promise<string>;
  /** Records a failure (for `.catch(fail)` on loads). */
  fail: (failure: unknown) => void;
  /** Forgets the last failure. */
  reset: () => void;
}

export function useAction(): Action {
  const [error, setError] = useState("");
  const fail = (failure: unknown) => setError(describe(failure));
  const attempt = async (action: () => Promise<unknown>) => {
    try {
      await action();
      setError("");
      return "";
    } catch (failure) {
      const sentence = describe(failure);
      setError(sentence);
      return sentence;
    }
  };
  return { error, attempt, fail, reset: () => setError("") };
}

/** A failure, announced (role=alert); nothing when `error` is empty. */
export function Alert(props: { error: string; inline?: boolean }) {
  if (!props.error) return null;
  return props.inline
    ? <span role="alert" class="error">{props.error}</span>
    : <p role="alert" class="error">{props.error}</p>;
}
