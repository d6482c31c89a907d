// Theme choice: "system" follows prefers-color-scheme; "light" and "dark" override it.
// The choice is kept in localStorage (it is not a secret).
export type ThemeChoice = 'system' | 'light' | 'dark';

const KEY = 'inframon.theme';

export function loadTheme(): ThemeChoice {
  const saved = localStorage.getItem(KEY);
  return saved === 'light' || saved === 'dark' ? saved : 'system';
}

export function effectiveTheme(choice: ThemeChoice): 'light' | 'dark' {
  if (choice !== 'system') {
    return choice;
  }
  return window.matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
}

export function applyTheme(choice: ThemeChoice): void {
  document.documentElement.dataset.theme = effectiveTheme(choice);
  if (choice === 'system') {
    localStorage.removeItem(KEY);
  } else {
    localStorage.setItem(KEY, choice);
  }
}
