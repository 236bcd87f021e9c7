// Preload of every rbee window. Sandboxed (checklist 4): only `contextBridge` and `ipcRenderer` are
// used, and the build emits it as CommonJS (`out/preload/index.cjs`), which a sandboxed preload needs.
// The page gets exactly one global, `window.rbee`, implementing ControlApi; no Electron or Node API
// and no generic `ipcRenderer` is exposed (checklist 20).
import { contextBridge, ipcRenderer } from 'electron';
import { createRawBridge } from './preload/createRawBridge.js';
import { installRbee } from './preload/installRbee.js';

const raw = createRawBridge(ipcRenderer);

if (typeof contextBridge.executeInMainWorld === 'function') {
  // Build the ControlApi in the page's world so that AbortSignal and ApiError fields survive.
  contextBridge.executeInMainWorld({ func: installRbee, args: [raw] });
} else {
  const capture: { rbee?: unknown } = {};
  installRbee(raw, capture);
  contextBridge.exposeInMainWorld('rbee', capture.rbee);
}
