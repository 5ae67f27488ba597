/** The input is not something RepliCode can run; the message says why, in one line. */
export class ModuleFormatError extends Error {}
