export * from './alpha';
