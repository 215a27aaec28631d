#!/usr/bin/env node
// `ovserve` (package.json bin; `npx ovserve ...` in a checkout): registers tsx in this very process
// and runs the TypeScript CLI here, so there is no wrapper process: a SIGTERM sent to this pid
// reaches the server itself, which drains.
import { register } from 'tsx/esm/api';

register();
await import('./cli.ts');
