#!/usr/bin/env node
// The `photo-assistant` command: runs the TypeScript CLI through tsx's loader.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('./main.ts');
process.exitCode = (await main(process.argv)) || process.exitCode;
