/** A dataset folder (YOLO, VOC) whose structure cannot be read: the import is refused whole and changes nothing. */
export class DatasetFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DatasetFileError';
  }
}
