import { render } from 'preact';
import { App } from './App';
import { applyTheme, loadTheme } from './lib/theme';
import './style.css';

applyTheme(loadTheme());
render(<App />, document.getElementById('app') as HTMLElement);
