// The decisions of origin.ts on their own: which Host, Origin and Sec-Fetch-Site headers are the server's own
// page, and which Electron frames may call the back end (Electron itself cannot run here).
import { describe, expect, it } from 'vitest';
import { ipcSenderRefusal, isLoopback, originRefusal, serverHostNames } from '../../src/core/server/origin';

const PORT = 5173;
const loopback = serverHostNames('127.0.0.1', ['192.168.1.20', 'fe80::1']);

describe('web mode: Host and Origin', () => {
  it('answers to the loopback names with its port, and to nothing else when bound to loopback', () => {
    expect([...loopback].sort()).toEqual(['127.0.0.1', '[::1]', 'localhost']);
    for (const host of ['127.0.0.1:5173', 'localhost:5173', 'LOCALHOST:5173', '[::1]:5173']) expect(originRefusal({ host }, loopback, PORT)).toBeNull();
    for (const host of ['192.168.1.20:5173', 'localhost', 'localhost:5174', 'evil.example:5173', 'user@localhost:5173', 'localhost:5173/x', '', undefined]) {
      expect(originRefusal({ host }, loopback, PORT)).toMatch(/Host header/);
    }
  });

  it('takes only its own origins: http, a name it answers to, its port', () => {
    const host = 'localhost:5173';
    for (const origin of ['http://localhost:5173', 'http://127.0.0.1:5173', 'http://[::1]:5173']) expect(originRefusal({ host, origin }, loopback, PORT)).toBeNull();
    for (const origin of ['http://localhost:5174', 'https://localhost:5173', 'http://evil.example', 'null', '', 'http://localhost:5173/', 'http://localhost:5173.evil.example', 'file://']) {
      expect(originRefusal({ host, origin }, loopback, PORT)).toMatch(/origin/);
    }
  });

  it('port 80 may be left out, as browsers do', () => {
    expect(originRefusal({ host: 'localhost', origin: 'http://localhost' }, loopback, 80)).toBeNull();
    expect(originRefusal({ host: 'localhost:80', origin: 'http://localhost' }, loopback, 80)).toBeNull();
  });

  it('refuses what another page embeds (Sec-Fetch-Site same-site or cross-site) unless it is a navigation', () => {
    const host = '127.0.0.1:5173';
    expect(originRefusal({ host, 'sec-fetch-site': 'same-site', 'sec-fetch-mode': 'no-cors' }, loopback, PORT)).toMatch(/other sites/);
    expect(originRefusal({ host, 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'cors' }, loopback, PORT)).toMatch(/other sites/);
    expect(originRefusal({ host, 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'navigate' }, loopback, PORT)).toBeNull();
    expect(originRefusal({ host, 'sec-fetch-site': 'same-origin', 'sec-fetch-mode': 'no-cors' }, loopback, PORT)).toBeNull();
    expect(originRefusal({ host, 'sec-fetch-site': 'none', 'sec-fetch-mode': 'navigate' }, loopback, PORT)).toBeNull();
  });

  it('bound to one other address, answers to it too; bound to a wildcard, to every address of the machine', () => {
    expect([...serverHostNames('192.168.1.20', ['192.168.1.20', '10.0.0.5'])].sort()).toEqual(['127.0.0.1', '192.168.1.20', '[::1]', 'localhost']);
    const all = serverHostNames('0.0.0.0', ['192.168.1.20', 'FE80::1']);
    expect([...all].sort()).toEqual(['127.0.0.1', '192.168.1.20', '[::1]', '[fe80::1]', 'localhost']);
    expect(originRefusal({ host: '[fe80::1]:5173', origin: 'http://[fe80::1]:5173' }, all, PORT)).toBeNull();
    expect(originRefusal({ host: '10.0.0.5:5173' }, all, PORT)).toMatch(/Host header/);
    expect(serverHostNames('::', ['10.0.0.5']).has('10.0.0.5')).toBe(true);
  });

  it('tells loopback addresses from the others', () => {
    for (const a of ['127.0.0.1', '127.0.1.1', 'localhost', '::1', '[::1]']) expect(isLoopback(a)).toBe(true);
    for (const a of ['0.0.0.0', '::', '192.168.1.20', '10.0.0.1', 'example.org']) expect(isLoopback(a)).toBe(false);
  });
});

describe('Electron: which frame may call the back end', () => {
  const main = { url: 'difflabel://app/index.html#/image/3', processId: 7, routingId: 1 };

  it('accepts the main frame of the window while it shows the app', () => {
    expect(ipcSenderRefusal({ ...main }, main)).toBeNull(); // another object for the same frame
  });

  it('refuses an iframe, another window, a page navigated elsewhere, and a frame that is gone', () => {
    expect(ipcSenderRefusal({ ...main, routingId: 2 }, main)).toMatch(/main frame/);
    expect(ipcSenderRefusal({ ...main, processId: 8 }, main)).toMatch(/main frame/);
    for (const url of ['https://example.org/', 'difflabel://other/index.html', 'difflabel://app.evil/', 'file:///etc/passwd', 'about:blank', '']) {
      expect(ipcSenderRefusal({ ...main, url }, { ...main, url })).toMatch(/only the DiffLabel app/);
    }
    expect(ipcSenderRefusal(null, main)).toMatch(/gone/);
    expect(ipcSenderRefusal(main, undefined)).toMatch(/gone/);
  });
});
