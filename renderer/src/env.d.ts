import type { PhotoAssistantBridge } from './lib/contract.ts';

declare global {
  interface Window {
    /** Exposed by the preload (electron/) or the e2e harness; absent in a plain browser. */
    photoAssistant?: PhotoAssistantBridge;
  }
}
