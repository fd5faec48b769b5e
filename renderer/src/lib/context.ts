// The app's state objects, handed to components through one typed context (no string keys).
import { createContext } from 'svelte';
import type { Client } from './client.ts';
import { AppStatus } from '../state/app.svelte.ts';
import { ChatState } from '../state/chat.svelte.ts';
import { LibraryState } from '../state/library.svelte.ts';
import { ModelsState } from '../state/models.svelte.ts';
import { PhotoViewState } from '../state/photo.svelte.ts';
import { QueueState } from '../state/queue.svelte.ts';
import { SettingsState } from '../state/settings.svelte.ts';
import { toasts, type ToastState } from '../state/toasts.svelte.ts';

export interface AppContext {
  client: Client;
  app: AppStatus;
  queue: QueueState;
  library: LibraryState;
  photo: PhotoViewState;
  chat: ChatState;
  settings: SettingsState;
  models: ModelsState;
  toasts: ToastState;
}

export const [getAppContext, setAppContext] = createContext<AppContext>();

/** Builds every state object over one client; `start` subscribes them to main's events. */
export function createAppContext(client: Client): AppContext & { start(): Promise<void>; stop(): void } {
  const queue = new QueueState(client);
  const app = new AppStatus(client, queue);
  const library = new LibraryState(client, { searchAvailable: () => app.searchAvailable });
  const photo = new PhotoViewState(client);
  const chat = new ChatState(client);
  const settings = new SettingsState(client, app);
  const models = new ModelsState(client, app);
  const parts = [queue, library, photo, chat, settings, models];
  return {
    client, app, queue, library, photo, chat, settings, models, toasts,
    async start() {
      for (const p of parts) p.start();
      await app.start();
    },
    stop() {
      for (const p of parts) p.stop();
      app.stop();
    },
  };
}
