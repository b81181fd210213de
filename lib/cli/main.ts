#!/usr/bin/env node
/**
 * The `sanode` command. The command tree lives in program.ts so it can be tested without
 * spawning processes; this file only binds it to the process.
 */
import { runCli } from './program.js';

process.exitCode = await runCli(process.argv.slice(2));
