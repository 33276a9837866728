/** Settings a generation cannot run with; the message says which and why (the CLI's bad usage, the API's 400). */
export class GenerateInputError extends Error {
  override name = 'GenerateInputError';
}
