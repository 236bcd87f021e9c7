import type { BrowserWindowConstructorOptions, Rectangle } from 'electron';

/** The part of Electron's BrowserWindow the shell uses. */
export interface ShellWindow {
  readonly webContents: ShellWebContents;
  loadURL(url: string): Promise<void>;
  show(): void;
  hide(): void;
  focus(): void;
  close(): void;
  destroy(): void;
  isDestroyed(): boolean;
  isVisible(): boolean;
  isMinimized(): boolean;
  isMaximized(): boolean;
  restore(): void;
  maximize(): void;
  getBounds(): Rectangle;
  setTitle(title: string): void;
  setProgressBar(progress: number): void;
  on(event: 'close', listener: (event: { preventDefault(): void }) => void): unknown;
  on(event: 'closed' | 'blur' | 'resize' | 'move' | 'ready-to-show', listener: () => void): unknown;
}

export interface ShellWebContents {
  readonly id: number;
  on(event: 'before-input-event', listener: (event: { preventDefault(): void }, input: { type: string; key: string }) => void): unknown;
}

export type CreateWindow = (options: BrowserWindowConstructorOptions) => ShellWindow;
