/** Thrown by proc_exit (and fatal proc_raise) to unwind the guest; the runner catches it. */
export class ProcessExit extends Error {
  constructor(readonly code: number) {
    super(`process exited with code ${code}`);
  }
}
