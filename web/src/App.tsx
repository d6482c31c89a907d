import { lazy, Suspense } from 'preact/compat';
import { useEffect, useState } from 'preact/hooks';
import { notify, Toasts } from './components/common';
import { roleAtLeast } from './lib/actions';
import { api, type User } from './lib/api';
import { navigate, onLinkClick, usePath } from './lib/router';
import { applyTheme, effectiveTheme, loadTheme, type ThemeChoice } from './lib/theme';
import { ContainerDetail } from './pages/ContainerDetail';
import { Containers } from './pages/Containers';
import { Dashboard } from './pages/Dashboard';
import { Login } from './pages/Login';

// Pages beyond the first ones load on first use, so that the first page stays small.
const Account = lazy(() => import('./pages/Account'));
const AuditLog = lazy(() => import('./pages/AuditLog'));
const ComposeProjects = lazy(() => import('./pages/ComposeProjects'));
const EventsFeed = lazy(() => import('./pages/EventsFeed'));
const Groups = lazy(() => import('./pages/Groups'));
const MergedLogs = lazy(() => import('./pages/MergedLogs'));
const Settings = lazy(() => import('./pages/Settings'));
const Users = lazy(() => import('./pages/Users'));

const THEME_NEXT: Record<ThemeChoice, ThemeChoice> = { system: 'light', light: 'dark', dark: 'system' };

function ThemeToggle() {
  const [choice, setChoice] = useState<ThemeChoice>(loadTheme());
  useEffect(() => {
    applyTheme(choice);
    if (choice !== 'system') {
      return;
    }
    const query = window.matchMedia('(prefers-color-scheme: dark)');
    const follow = () => applyTheme('system');
    query.addEventListener('change', follow);
    return () => query.removeEventListener('change', follow);
  }, [choice]);
  const label = choice === 'system' ? `Theme: system (${effectiveTheme('system')})` : `Theme: ${choice}`;
  return (
    <button type="button" class="theme-toggle" onClick={() => setChoice(THEME_NEXT[choice])} title="Switch between system, light and dark themes">
      {label}
    </button>
  );
}

function NavLink({ href, label, path }: { href: string; label: string; path: string }) {
  const current = href === '/' ? path === '/' : path.startsWith(href);
  return (
    <a href={href} onClick={onLinkClick} aria-current={current ? 'page' : undefined}>
      {label}
    </a>
  );
}

// Returns the decoded id of a /containers/{id} address, or null for any other address.
// An id with a malformed percent-escape (a lone %) also gives null, because
// decodeURIComponent throws a URIError on it and the page would otherwise never render.
function containerIdFromPath(path: string): string | null {
  const match = /^\/containers\/([^/]+)$/.exec(path);
  if (!match) {
    return null;
  }
  try {
    return decodeURIComponent(match[1]);
  } catch {
    return null;
  }
}

function NotFound() {
  return (
    <section>
      <h1>Page not found</h1>
      <p>
        There is no page at <code>{location.pathname}</code>.{' '}
        <a href="/" onClick={onLinkClick}>
          Go to the dashboard
        </a>
        .
      </p>
    </section>
  );
}

export function App() {
  const [user, setUser] = useState<User | null>(null);
  const [booting, setBooting] = useState(true);
  const path = usePath();

  useEffect(() => {
    api.onUser = setUser;
    api.onSessionEnd = () => {
      setUser(null);
      notify('error', 'Your session has ended. Sign in again.');
    };
    // The refresh cookie of an earlier page load restores the session after a reload.
    void api.resume().finally(() => setBooting(false));
  }, []);

  if (booting) {
    return <p class="muted boot">Loading InfraMon…</p>;
  }
  if (!user) {
    return (
      <>
        <Login />
        <Toasts />
      </>
    );
  }

  const logout = async () => {
    await api.logout();
    setUser(null);
    navigate('/');
  };
  const isAdmin = roleAtLeast(user.role, 'admin');
  const detailId = containerIdFromPath(path);
  let page;
  if (path === '/') {
    page = <Dashboard />;
  } else if (path === '/containers') {
    page = <Containers role={user.role} />;
  } else if (detailId !== null) {
    page = <ContainerDetail key={detailId} id={detailId} role={user.role} />;
  } else if (path === '/groups') {
    page = <Groups role={user.role} />;
  } else if (path === '/compose') {
    page = <ComposeProjects role={user.role} />;
  } else if (path === '/logs') {
    page = <MergedLogs />;
  } else if (path === '/events') {
    page = <EventsFeed />;
  } else if (path === '/account') {
    page = <Account me={user} />;
  } else if (path === '/admin/users' && isAdmin) {
    page = <Users me={user} />;
  } else if (path === '/admin/audit' && isAdmin) {
    page = <AuditLog />;
  } else if (path === '/admin/settings' && isAdmin) {
    page = <Settings />;
  } else {
    page = <NotFound />;
  }

  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="topbar">
        <a href="/" class="brand" onClick={onLinkClick}>
          InfraMon
        </a>
        <nav aria-label="Main">
          <NavLink href="/" label="Dashboard" path={path} />
          <NavLink href="/containers" label="Containers" path={path} />
          <NavLink href="/groups" label="Groups" path={path} />
          <NavLink href="/compose" label="Compose" path={path} />
          <NavLink href="/logs" label="Logs" path={path} />
          <NavLink href="/events" label="Events" path={path} />
          {isAdmin && (
            <>
              <NavLink href="/admin/users" label="Users" path={path} />
              <NavLink href="/admin/audit" label="Audit log" path={path} />
              <NavLink href="/admin/settings" label="Settings" path={path} />
            </>
          )}
        </nav>
        <div class="user">
          <ThemeToggle />
          <a href="/account" class="who" onClick={onLinkClick} title={`Signed in as ${user.username} with the ${user.role} role: open your account`}>
            {user.username} <span class="badge">{user.role}</span>
          </a>
          <button type="button" onClick={logout}>
            Sign out
          </button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        <Suspense fallback={<p class="muted">Loading the page…</p>}>{page}</Suspense>
      </main>
      <Toasts />
    </>
  );
}
