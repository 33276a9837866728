import type { Client } from '../../../shared/contract';
import { createElectronClient, type PreloadBridge } from './electron';
import { createWebClient } from './web';

declare global {
  interface Window {
    difflabel?: PreloadBridge;
  }
}

/** The one client of the UI; which transport it rides on is decided here and nowhere else. */
export const client: Client = window.difflabel ? createElectronClient(window.difflabel) : createWebClient();
export { ClientError } from './errors';
