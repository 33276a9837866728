// Shared by the checkpoint readers: the error for a file's contents, and how names from a file are shown in one.

/** Something wrong with the file's contents; the reader adds the file's name. Messages never quote the file's bytes. */
export class FormatError extends Error {}

/** A name from the file as an error may show it: printable ASCII only, else a placeholder (no control characters). */
export function shown(name: string): string {
  return /^[\x20-\x7e]{1,200}$/.test(name) ? name : '(a name with unprintable characters)';
}
