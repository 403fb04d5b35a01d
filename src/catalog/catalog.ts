/**
 * The catalog's public surface: the contract (./contract.ts) and `openCatalog`, which opens today's SQLite
 * implementation (./sqlite-catalog.ts). Importers use this file so the implementation can change alone.
 */
export * from './contract.ts';
export { openCatalog } from './sqlite-catalog.ts';
