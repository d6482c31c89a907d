import { describe, expect, it } from 'vitest';
import { newPasswordProblem, PASSWORD_MAX_BYTES } from './password';

describe('newPasswordProblem', () => {
  it('accepts 8 ASCII characters', () => {
    expect(newPasswordProblem('abcdefgh')).toBeNull();
  });
  it('rejects 7 characters', () => {
    expect(newPasswordProblem('abcdefg')).toMatch(/7 characters long; the minimum is 8/);
  });
  it('counts code points, not UTF-16 units', () => {
    // Four emoji are eight UTF-16 units and 16 bytes, but four characters.
    expect(newPasswordProblem('😀😀😀😀')).toMatch(/4 characters long/);
  });
  it('accepts exactly 72 bytes', () => {
    expect(newPasswordProblem('a'.repeat(PASSWORD_MAX_BYTES))).toBeNull();
    expect(newPasswordProblem('é'.repeat(36))).toBeNull();
  });
  it('rejects 73 bytes of ASCII', () => {
    expect(newPasswordProblem('a'.repeat(73))).toMatch(/73 bytes in UTF-8; the maximum is 72 bytes/);
  });
  it('rejects 40 two-byte characters', () => {
    // A limit in characters lets these 40 through, but they are 80 bytes.
    expect(newPasswordProblem('é'.repeat(40))).toMatch(/80 bytes/);
  });
});
