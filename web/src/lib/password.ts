// The server's rules for a new password (src/auth/password.c): at least 8 characters and
// at most 72 bytes in UTF-8, because bcrypt ignores every byte after the 72nd.

export const PASSWORD_MIN_CHARS = 8;
export const PASSWORD_MAX_BYTES = 72;
export const PASSWORD_RULE = `${PASSWORD_MIN_CHARS} characters to ${PASSWORD_MAX_BYTES} bytes`;

const utf8 = new TextEncoder();

// Returns why the server would reject password as a new password, or null when it fits.
// Characters are Unicode code points, so "é" is one character but two bytes. The server
// counts its minimum in bytes, so this check is the stricter one for short non-ASCII
// passwords.
export function newPasswordProblem(password: string): string | null {
  const chars = [...password].length;
  if (chars < PASSWORD_MIN_CHARS) {
    return `The password is ${chars} characters long; the minimum is ${PASSWORD_MIN_CHARS}.`;
  }
  const bytes = utf8.encode(password).length;
  if (bytes > PASSWORD_MAX_BYTES) {
    return `The password is ${bytes} bytes in UTF-8; the maximum is ${PASSWORD_MAX_BYTES} bytes. Letters outside A-Z count as 2 to 4 bytes.`;
  }
  return null;
}
