// Builds an app context over the fake bridge for component tests.
import { Client } from '../lib/client.ts';
import { createAppContext } from '../lib/context.ts';
import { createFakeBridge, type FakeOptions } from './fake-bridge.ts';

export function fakeApp(opts: FakeOptions = {}) {
  const fake = createFakeBridge(opts);
  const ctx = createAppContext(new Client(fake.bridge));
  return { fake, ctx };
}

/** jsdom has no layout: give every element the size a window of `width`×`height` would have. */
export function fakeLayout(width: number, height: number): () => void {
  const proto = HTMLElement.prototype;
  const saved = {
    w: Object.getOwnPropertyDescriptor(proto, 'clientWidth'),
    h: Object.getOwnPropertyDescriptor(proto, 'clientHeight'),
  };
  Object.defineProperty(proto, 'clientWidth', { configurable: true, get: () => width });
  Object.defineProperty(proto, 'clientHeight', { configurable: true, get: () => height });
  return () => {
    if (saved.w) Object.defineProperty(proto, 'clientWidth', saved.w);
    if (saved.h) Object.defineProperty(proto, 'clientHeight', saved.h);
  };
}
