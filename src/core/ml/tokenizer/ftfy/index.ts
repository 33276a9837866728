export { fixText, fixEncoding } from './fixText';
