#!/usr/bin/env node
// The `rbee` CLI: runs the TypeScript sources through tsx's loader (a runtime dependency).
import { register } from 'tsx/esm/api';

register();
await import('../src-main/cli/main.ts');
