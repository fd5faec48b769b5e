// The application menu. It only names actions; main.ts decides what each one does. Reload and
// DevTools exist in development builds only.
import { Menu, type MenuItemConstructorOptions } from 'electron';

export interface MenuActions {
  addFolder(): void;
  openSettings(): void;
  openQueue(): void;
  focusSearch(): void;
  showAbout(): void;
  showPrivacy(): void;
  /** Opens the folder of the app's log files (main, worker, converter). */
  showLogs(): void;
}

export function buildAppMenu(actions: MenuActions, options: { dev: boolean; appName: string }): Menu {
  const mac = process.platform === 'darwin';
  const settings: MenuItemConstructorOptions = { label: 'Settings…', accelerator: 'CmdOrCtrl+,', click: () => actions.openSettings() };
  const about: MenuItemConstructorOptions = { label: `About ${options.appName}`, click: () => actions.showAbout() };

  const template: MenuItemConstructorOptions[] = [
    ...(mac
      ? [{
          label: options.appName,
          submenu: [
            about,
            { type: 'separator' },
            settings,
            { type: 'separator' },
            { role: 'services' },
            { type: 'separator' },
            { role: 'hide' },
            { role: 'hideOthers' },
            { role: 'unhide' },
            { type: 'separator' },
            { role: 'quit' },
          ],
        } satisfies MenuItemConstructorOptions]
      : []),
    {
      label: 'File',
      submenu: [
        { label: 'Add Folder…', accelerator: 'CmdOrCtrl+O', click: () => actions.addFolder() },
        ...(mac ? [] : [{ type: 'separator' }, settings] satisfies MenuItemConstructorOptions[]),
        { type: 'separator' },
        mac ? { role: 'close' } : { role: 'quit' },
      ],
    },
    {
      label: 'Edit',
      submenu: [
        { label: 'Find Photos…', accelerator: 'CmdOrCtrl+F', click: () => actions.focusSearch() },
        { type: 'separator' },
        { role: 'undo' },
        { role: 'redo' },
        { type: 'separator' },
        { role: 'cut' },
        { role: 'copy' },
        { role: 'paste' },
        { role: 'pasteAndMatchStyle' },
        { role: 'delete' },
        { role: 'selectAll' },
      ],
    },
    {
      label: 'View',
      submenu: [
        ...(options.dev
          ? [{ role: 'reload' }, { role: 'forceReload' }, { role: 'toggleDevTools' }, { type: 'separator' }] satisfies MenuItemConstructorOptions[]
          : []),
        { label: 'Processing Queue', accelerator: 'CmdOrCtrl+J', click: () => actions.openQueue() },
        { type: 'separator' },
        { role: 'resetZoom' },
        { role: 'zoomIn' },
        { role: 'zoomOut' },
        { type: 'separator' },
        { role: 'togglefullscreen' },
      ],
    },
    { role: 'windowMenu' },
    {
      role: 'help',
      submenu: [
        ...(mac ? [] : [about]),
        { label: 'Privacy', click: () => actions.showPrivacy() },
        { label: 'Show Logs', click: () => actions.showLogs() },
      ],
    },
  ];
  return Menu.buildFromTemplate(template);
}
