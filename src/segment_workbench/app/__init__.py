"""The application: runner, CLI, owner's report, templates and the step notebooks."""
