import { run as runTable } from './workersCommand.js';

/** `rbee models`: the models every hive has, as a table. */
export function run(argv: string[]): Promise<number> {
  return runTable(argv, 'models');
}
