// Exposes the contract's methods by name, and event subscription — nothing else reaches the page.
import { contextBridge, ipcRenderer, type IpcRendererEvent } from 'electron';
import { eventNames, methodNames } from '../shared/contract';

const methods = Object.fromEntries(methodNames.map((name) => [name, (input: unknown) => ipcRenderer.invoke('difflabel:call', name, input)]));

contextBridge.exposeInMainWorld('difflabel', {
  methods,
  on(event: string, listener: (payload: unknown) => void) {
    if (!(eventNames as string[]).includes(event)) throw new Error(`unknown event ${event}`);
    const handler = (_e: IpcRendererEvent, name: string, payload: unknown) => {
      if (name === event) listener(payload);
    };
    ipcRenderer.on('difflabel:event', handler);
    return () => ipcRenderer.removeListener('difflabel:event', handler);
  },
});
