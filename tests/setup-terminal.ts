// Ink decides when it is imported that a process with CI or CONTINUOUS_INTEGRATION set draws
// nothing until it exits (is-in-ci). `replicode tui` clears both before loading Ink on a
// terminal, so its screens are what users see; the render tests must see the same screens when
// the suite itself runs in CI (.ci/run sets CI=true), so the variables are cleared here, before
// any test file imports Ink. The tmux test still starts the TUI with CI=true to cover that path.
delete process.env.CI;
delete process.env.CONTINUOUS_INTEGRATION;
