/** Exit codes of the replicode CLI (see README). A guest's own exit code passes through `run`. */
export const ExitCode = {
  ok: 0,
  /** Bad usage or input: unknown option, missing or invalid module, bad --dir. */
  usage: 1,
  /** `replay` found a divergence (later issue). */
  diverged: 3,
  /** A bug inside RepliCode; please report it. */
  internal: 70,
  /** The guest trapped (like SIGABRT). */
  trap: 134,
} as const;
