import { useEffect, useRef } from 'preact/hooks';
import { newPasswordProblem, PASSWORD_RULE } from '../lib/password';

// A new password and its repetition, checked against the server's rules as the user
// types. Each input carries its problem as a custom validity message, so the browser
// blocks the form's submit until both fit, and the problem is also shown as text.
export function NewPasswordFields({
  label,
  password,
  repeated,
  onPassword,
  onRepeated,
}: {
  label: string;
  password: string;
  repeated: string;
  onPassword: (value: string) => void;
  onRepeated: (value: string) => void;
}) {
  const first = useRef<HTMLInputElement>(null);
  const second = useRef<HTMLInputElement>(null);
  const problem = password ? newPasswordProblem(password) : null;
  const mismatch = !problem && repeated && repeated !== password ? 'The two passwords differ.' : null;

  useEffect(() => {
    first.current?.setCustomValidity(problem ?? '');
    second.current?.setCustomValidity(mismatch ?? '');
  }, [problem, mismatch]);

  return (
    <>
      <label>
        {label} ({PASSWORD_RULE})
        <input ref={first} type="password" required autocomplete="new-password" value={password} onInput={(e) => onPassword(e.currentTarget.value)} />
      </label>
      <label>
        Repeat the {label.toLowerCase()}
        <input ref={second} type="password" required autocomplete="new-password" value={repeated} onInput={(e) => onRepeated(e.currentTarget.value)} />
      </label>
      {(problem || mismatch) && (
        <p class="field-error" role="status">
          {problem ?? mismatch}
        </p>
      )}
    </>
  );
}
