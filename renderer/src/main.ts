// The renderer's entry: the preload (or a test harness) provides window.photoAssistant; without it
// the page says so instead of failing silently.
import { mount } from 'svelte';
import './app.css';
import App from './App.svelte';
import { Client } from './lib/client.ts';

const target = document.getElementById('app')!;
const bridge = window.photoAssistant;
if (bridge) {
  mount(App, { target, props: { client: new Client(bridge) } });
} else {
  target.textContent = 'Photo Assistant must be opened by its app: the bridge to the library is missing.';
}
